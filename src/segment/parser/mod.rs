//! A hand-written recursive-descent parser that checks as it goes: each name is
//! resolved against the catalogue, each operator against the attribute's type
//! and each literal converted to the attribute's value type, so every error
//! carries the line and column of the token at fault.
//!
//! ```text
//! query     := or EOF
//! or        := and ("OR" and)*
//! and       := unary ("AND" unary)*
//! unary     := "NOT" unary | "(" or ")" | predicate
//! predicate := attribute test
//!            | function "MATCHES" "(" field test ("," field test)* ")"
//!            | "anniversary" "(" attribute ")" ("=" day | "BETWEEN" day "AND" day)
//! test      := cmp value | "BETWEEN" value "AND" value | ["NOT"] "IN" "(" value ("," value)* ")"
//!            | ["NOT"] "CONTAINS" value | "IS" ["NOT"] "NULL"
//! ```
//!
//! Here: the expression grammar (`or`, `and`, `unary`, `predicate`, the
//! functions); [`values`] reads what follows a subject, the operator and its
//! literals converted to the subject's type.

mod values;

use super::SegmentError;
use super::ast::{Day, Expr, Pred, Test, Value};
use super::catalogue::{
    ANNIVERSARY_OF, ANNIVERSARY_OPS, ATTRIBUTES, FUNCTIONS, Func, SubSpec, Type, attribute, nearest,
};
use super::lexer::{CmpOp, Pos, Tok, Token, Unit, tokenize};

pub use values::{money, normalise_text};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "between",
    "in",
    "contains",
    "is",
    "null",
    "matches",
    "today",
    "yesterday",
];

/// Parses and checks a segment query. `money_digits` is the exponent of the base
/// currency: money literals are written in major units.
pub fn parse(text: &str, money_digits: u32) -> Result<Expr, SegmentError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
        money_digits,
    };
    if p.peek().tok == Tok::Eof {
        return Err(SegmentError::new(
            p.peek().pos,
            "the segment query is empty; write a condition such as `amount_spent >= 500`",
        ));
    }
    let expr = p.or()?;
    let next = p.peek();
    if next.tok != Tok::Eof {
        let hint = if next.tok == Tok::RParen {
            "this `)` closes no `(`".to_string()
        } else {
            format!(
                "unexpected {} after a complete condition; join conditions with AND or OR",
                next.tok.describe()
            )
        };
        return Err(SegmentError::new(next.pos, hint));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    money_digits: u32,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends with Eof, and `bump` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::Eof {
            self.at += 1;
        }
        token
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.bump();
        }
        found
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Pos, SegmentError> {
        let next = self.bump();
        if next.tok == tok {
            Ok(next.pos)
        } else {
            Err(SegmentError::new(
                next.pos,
                format!("expected {what}, found {}", next.tok.describe()),
            ))
        }
    }

    fn expect_keyword(&mut self, word: &str, context: &str) -> Result<(), SegmentError> {
        if self.eat_keyword(word) {
            return Ok(());
        }
        let next = self.peek();
        Err(SegmentError::new(
            next.pos,
            format!("expected {word} {context}, found {}", next.tok.describe()),
        )
        .suggest(word))
    }

    fn or(&mut self) -> Result<Expr, SegmentError> {
        let mut terms = vec![self.and()?];
        while self.eat_keyword("or") {
            terms.push(self.and()?);
        }
        Ok(flatten(terms, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, SegmentError> {
        let mut terms = vec![self.unary()?];
        while self.eat_keyword("and") {
            terms.push(self.unary()?);
        }
        Ok(flatten(terms, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, SegmentError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SegmentError::new(
                self.peek().pos,
                format!("conditions nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        let result = if self.eat_keyword("not") {
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else if self.peek().tok == Tok::LParen {
            let open = self.bump().pos;
            let inner = self.or()?;
            if self.peek().tok != Tok::RParen {
                let next = self.peek();
                return Err(SegmentError::new(
                    next.pos,
                    format!(
                        "expected `)` to close the `(` at line {}, column {}, found {}",
                        open.line,
                        open.column,
                        next.tok.describe()
                    ),
                )
                .suggest(")"));
            }
            self.bump();
            Ok(inner)
        } else {
            self.predicate().map(Expr::Pred)
        };
        self.depth -= 1;
        result
    }

    fn name(&mut self, what: &str) -> Result<(String, Pos), SegmentError> {
        let next = self.bump();
        match next.tok {
            Tok::Ident(name) if !KEYWORDS.contains(&name.to_lowercase().as_str()) => {
                Ok((name.to_lowercase(), next.pos))
            }
            other => Err(SegmentError::new(
                next.pos,
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }

    fn predicate(&mut self) -> Result<Pred, SegmentError> {
        let (name, pos) = self.name("an attribute such as `amount_spent`")?;
        if let Some(func) = FUNCTIONS.iter().find(|f| f.name == name) {
            return match func.func {
                Func::Anniversary => self.anniversary(pos),
                Func::ProductsPurchased | Func::OrdersPlaced => {
                    self.matches(func.func, func.fields)
                }
            };
        }
        let Some(spec) = ATTRIBUTES.iter().find(|a| a.name == name) else {
            let names = ATTRIBUTES
                .iter()
                .map(|a| a.name)
                .chain(FUNCTIONS.iter().map(|f| f.name));
            let best = nearest(&name, names);
            return Err(
                SegmentError::new(pos, format!("unknown attribute `{name}`"))
                    .suggest_opt(best.map(str::to_owned)),
            );
        };
        let test = self.test(
            spec.name,
            spec.ty,
            &spec.operators(),
            spec.values,
            Some(spec),
        )?;
        Ok(Pred::Attr {
            attr: spec.attr,
            test,
        })
    }

    fn anniversary(&mut self, pos: Pos) -> Result<Pred, SegmentError> {
        self.expect(Tok::LParen, "`(` after anniversary")?;
        let (arg, arg_pos) = self.name("a date attribute")?;
        let allowed: Vec<&str> = ANNIVERSARY_OF.iter().map(|a| attribute(*a).name).collect();
        let Some(attr) = ANNIVERSARY_OF
            .iter()
            .copied()
            .find(|a| attribute(*a).name == arg)
        else {
            return Err(SegmentError::new(
                arg_pos,
                format!("anniversary() takes {}, not `{arg}`", allowed.join(" or ")),
            )
            .suggest_opt(nearest(&arg, allowed.iter().copied()).map(str::to_owned)));
        };
        self.expect(Tok::RParen, "`)`")?;
        let test = self.test("anniversary()", Type::Date, ANNIVERSARY_OPS, &[], None)?;
        let day = |v: Value| match v {
            Value::Day(d) => d,
            // `test` with Type::Date only yields days.
            _ => Day::Offset(0, Unit::Day),
        };
        let (from, to) = match test {
            Test::Cmp(CmpOp::Eq, v) => {
                let d = day(v);
                (d, d)
            }
            Test::Between(a, b) => (day(a), day(b)),
            _ => {
                return Err(SegmentError::new(pos, "anniversary() takes = or BETWEEN"));
            }
        };
        Ok(Pred::Anniversary { attr, from, to })
    }

    fn matches(&mut self, func: Func, fields: &'static [SubSpec]) -> Result<Pred, SegmentError> {
        self.expect_keyword("matches", "after the function name")?;
        self.expect(Tok::LParen, "`(` after MATCHES")?;
        let (mut rows, mut aggregates) = (Vec::new(), Vec::new());
        loop {
            let (name, pos) = self.name("a field such as `date`")?;
            let Some(field) = fields.iter().find(|f| f.name == name) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                return Err(SegmentError::new(
                    pos,
                    format!("unknown field `{name}`; MATCHES takes {}", names.join(", ")),
                )
                .suggest_opt(nearest(&name, names.iter().copied()).map(str::to_owned)));
            };
            let ops = super::catalogue::operators(field.ty, false);
            let test = self.test(field.name, field.ty, &ops, &[], None)?;
            if field.aggregate {
                aggregates.push((field.sub, test));
            } else {
                rows.push((field.sub, test));
            }
            let next = self.bump();
            match next.tok {
                Tok::Comma => continue,
                Tok::RParen => break,
                other => {
                    return Err(SegmentError::new(
                        next.pos,
                        format!("expected `,` or `)`, found {}", other.describe()),
                    ));
                }
            }
        }
        Ok(Pred::Matches {
            func,
            rows,
            aggregates,
        })
    }
}

fn flatten(mut terms: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if terms.len() == 1 {
        terms.remove(0)
    } else {
        join(terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_binds_its_own_and() {
        let e = parse("amount_spent BETWEEN 1 AND 2 AND number_of_orders > 1", 2).expect("parses");
        let Expr::And(terms) = e else {
            panic!("expected AND, got {e:?}")
        };
        assert_eq!(terms.len(), 2);
    }
}

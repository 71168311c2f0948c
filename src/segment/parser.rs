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

use super::SegmentError;
use super::ast::{Day, Expr, Pred, Test, Value};
use super::catalogue::{
    ANNIVERSARY_OF, ANNIVERSARY_OPS, ATTRIBUTES, Attr, AttrSpec, FUNCTIONS, Func, OpKind, SubSpec,
    Type, attribute, nearest,
};
use super::lexer::{CmpOp, Pos, Tok, Token, Unit, tokenize};

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

    /// Reads an operator and its operands, checked against the allowed operators.
    fn test(
        &mut self,
        subject: &str,
        ty: Type,
        allowed: &[OpKind],
        values: &[&str],
        spec: Option<&AttrSpec>,
    ) -> Result<Test, SegmentError> {
        let (op, pos) = self.operator(subject, allowed)?;
        if !allowed.contains(&op) {
            let list: Vec<&str> = allowed.iter().map(|o| o.text()).collect();
            let kind = match ty {
                Type::Integer => "a number",
                Type::Money => "an amount",
                Type::Date => "a date",
                Type::Enum => "an enum",
                Type::Text => "text",
                Type::List => "a list",
            };
            let why = if matches!(op, OpKind::IsNull | OpKind::IsNotNull) {
                format!("`{subject}` is never null, so IS NULL / IS NOT NULL do not apply")
            } else {
                format!(
                    "`{subject}` is {kind} and does not take {}; it takes {}",
                    op.text(),
                    list.join(", ")
                )
            };
            return Err(
                SegmentError::new(pos, why).suggest_opt(list.first().map(|s| s.to_string()))
            );
        }
        let lit = |p: &mut Parser| p.literal(subject, ty, values, spec);
        Ok(match op {
            OpKind::Eq => Test::Cmp(CmpOp::Eq, lit(self)?),
            OpKind::Ne => Test::Cmp(CmpOp::Ne, lit(self)?),
            OpKind::Gt => Test::Cmp(CmpOp::Gt, lit(self)?),
            OpKind::Ge => Test::Cmp(CmpOp::Ge, lit(self)?),
            OpKind::Lt => Test::Cmp(CmpOp::Lt, lit(self)?),
            OpKind::Le => Test::Cmp(CmpOp::Le, lit(self)?),
            OpKind::Between => {
                let low = lit(self)?;
                self.expect_keyword("and", "between the two ends of BETWEEN")?;
                Test::Between(low, lit(self)?)
            }
            OpKind::In | OpKind::NotIn => {
                self.expect(Tok::LParen, "`(` to open the list of values")?;
                let mut list = vec![lit(self)?];
                loop {
                    let next = self.bump();
                    match next.tok {
                        Tok::Comma => list.push(lit(self)?),
                        Tok::RParen => break,
                        other => {
                            return Err(SegmentError::new(
                                next.pos,
                                format!(
                                    "expected `,` or `)` in the list, found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    }
                }
                if op == OpKind::In {
                    Test::In(list)
                } else {
                    Test::NotIn(list)
                }
            }
            OpKind::Contains => Test::Contains(lit(self)?),
            OpKind::NotContains => Test::NotContains(lit(self)?),
            OpKind::IsNull => Test::IsNull,
            OpKind::IsNotNull => Test::IsNotNull,
            OpKind::Matches => {
                return Err(SegmentError::new(
                    pos,
                    format!(
                        "`{subject}` is an attribute; MATCHES follows products_purchased or orders_placed"
                    ),
                ));
            }
        })
    }

    fn operator(
        &mut self,
        subject: &str,
        allowed: &[OpKind],
    ) -> Result<(OpKind, Pos), SegmentError> {
        let next = self.bump();
        let op = match &next.tok {
            Tok::Cmp(CmpOp::Eq) => Some(OpKind::Eq),
            Tok::Cmp(CmpOp::Ne) => Some(OpKind::Ne),
            Tok::Cmp(CmpOp::Gt) => Some(OpKind::Gt),
            Tok::Cmp(CmpOp::Ge) => Some(OpKind::Ge),
            Tok::Cmp(CmpOp::Lt) => Some(OpKind::Lt),
            Tok::Cmp(CmpOp::Le) => Some(OpKind::Le),
            Tok::Ident(w) => match w.to_lowercase().as_str() {
                "between" => Some(OpKind::Between),
                "in" => Some(OpKind::In),
                "contains" => Some(OpKind::Contains),
                "matches" => Some(OpKind::Matches),
                "not" if self.eat_keyword("in") => Some(OpKind::NotIn),
                "not" if self.eat_keyword("contains") => Some(OpKind::NotContains),
                "is" => {
                    let negated = self.eat_keyword("not");
                    self.expect_keyword("null", "after IS")?;
                    Some(if negated {
                        OpKind::IsNotNull
                    } else {
                        OpKind::IsNull
                    })
                }
                _ => None,
            },
            _ => None,
        };
        match op {
            Some(op) => Ok((op, next.pos)),
            None => {
                let list: Vec<&str> = allowed.iter().map(|o| o.text()).collect();
                let word = match &next.tok {
                    Tok::Ident(w) => w.clone(),
                    _ => String::new(),
                };
                Err(SegmentError::new(
                    next.pos,
                    format!(
                        "expected an operator after `{subject}` ({}), found {}",
                        list.join(", "),
                        next.tok.describe()
                    ),
                )
                .suggest_opt(nearest(&word, list.iter().copied()).map(str::to_owned)))
            }
        }
    }

    fn literal(
        &mut self,
        subject: &str,
        ty: Type,
        values: &[&str],
        spec: Option<&AttrSpec>,
    ) -> Result<Value, SegmentError> {
        let next = self.bump();
        let pos = next.pos;
        let wrong = |expected: &str| {
            SegmentError::new(
                pos,
                format!("`{subject}` takes {expected}, not {}", next.tok.describe()),
            )
        };
        match ty {
            Type::Integer => match &next.tok {
                Tok::Number(n) => n
                    .parse::<i64>()
                    .map(Value::Int)
                    .map_err(|_| wrong("a whole number such as 3")),
                _ => Err(wrong("a whole number such as 3")),
            },
            Type::Money => match &next.tok {
                Tok::Number(n) => money(n, self.money_digits).map(Value::Int).ok_or_else(|| {
                    wrong(&format!(
                        "an amount in major units with at most {} decimals, such as 500 or 99.90",
                        self.money_digits
                    ))
                }),
                _ => Err(wrong("an amount such as 500 or 99.90")),
            },
            Type::Date => match &next.tok {
                Tok::Date(d) => Ok(Value::Day(Day::On(*d))),
                Tok::Offset(n, unit) => Ok(Value::Day(Day::Offset(*n, *unit))),
                Tok::Ident(w) if w.eq_ignore_ascii_case("today") => {
                    Ok(Value::Day(Day::Offset(0, Unit::Day)))
                }
                Tok::Ident(w) if w.eq_ignore_ascii_case("yesterday") => {
                    Ok(Value::Day(Day::Offset(-1, Unit::Day)))
                }
                Tok::Ident(w) => Err(wrong("a date such as 2026-01-31, today, yesterday or -7d")
                    .suggest_opt(nearest(w, ["today", "yesterday"]).map(str::to_owned))),
                _ => Err(wrong("a date such as 2026-01-31, today, yesterday or -7d")),
            },
            Type::Enum => {
                let word = match &next.tok {
                    Tok::Str(s) => s.trim().to_uppercase(),
                    Tok::Ident(s) if !KEYWORDS.contains(&s.to_lowercase().as_str()) => {
                        s.to_uppercase()
                    }
                    _ => return Err(wrong(&format!("one of {}", values.join(", ")))),
                };
                if values.contains(&word.as_str()) {
                    Ok(Value::Text(word))
                } else {
                    Err(SegmentError::new(
                        pos,
                        format!(
                            "`{word}` is not a value of `{subject}`; it takes {}",
                            values.join(", ")
                        ),
                    )
                    .suggest_opt(nearest(&word, values.iter().copied()).map(|s| format!("'{s}'"))))
                }
            }
            Type::Text | Type::List => match &next.tok {
                Tok::Str(s) => Ok(Value::Text(normalise_text(spec.map(|s| s.attr), s))),
                _ => Err(wrong("a quoted string such as 'value'")),
            },
        }
    }
}

/// Text the way the store keeps it: country codes upper-cased, emails, domains and tags lower-cased.
pub fn normalise_text(attr: Option<Attr>, value: &str) -> String {
    let value = value.trim();
    match attr {
        Some(Attr::Country) => value.to_uppercase(),
        Some(Attr::EmailDomain) => value.trim_start_matches('@').to_lowercase(),
        Some(Attr::Email | Attr::CustomerTags) => value.to_lowercase(),
        _ => value.to_owned(),
    }
}

/// Major units (`99.9`) to minor units (`9990`), exactly; `None` on overflow or extra decimals.
pub fn money(text: &str, digits: u32) -> Option<i64> {
    let negative = text.starts_with('-');
    let body = text.trim_start_matches(['-', '+']);
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if frac.len() > digits as usize {
        return None;
    }
    let scale = 10i64.checked_pow(digits)?;
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = digits as usize)
            .parse()
            .ok()?
    };
    let minor = whole.checked_mul(scale)?.checked_add(frac)?;
    Some(if negative { -minor } else { minor })
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
    fn money_is_exact() {
        assert_eq!(money("500", 2), Some(50_000));
        assert_eq!(money("99.9", 2), Some(9_990));
        assert_eq!(money("-0.05", 2), Some(-5));
        assert_eq!(money("1.234", 2), None);
        assert_eq!(money("1250", 0), Some(1250));
    }

    #[test]
    fn between_binds_its_own_and() {
        let e = parse("amount_spent BETWEEN 1 AND 2 AND number_of_orders > 1", 2).expect("parses");
        let Expr::And(terms) = e else {
            panic!("expected AND, got {e:?}")
        };
        assert_eq!(terms.len(), 2);
    }
}

//! What follows a subject: the operator, checked against those the subject
//! takes, and its literals converted to the subject's type (whole numbers,
//! money in major units, dates and relative days, enum values, text as the
//! store keeps it).

use super::{KEYWORDS, Parser};
use crate::segment::SegmentError;
use crate::segment::ast::{Day, Test, Value};
use crate::segment::catalogue::{Attr, AttrSpec, OpKind, Type, nearest};
use crate::segment::lexer::{CmpOp, Pos, Tok, Unit};

impl Parser {
    /// Reads an operator and its operands, checked against the allowed operators.
    pub(super) fn test(
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
                Type::Number => "a number",
                Type::Date => "a date",
                Type::Enum => "an enum",
                Type::Text => "text",
                Type::List => "a list",
                Type::Boolean => "true or false",
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
            Type::Number => match &next.tok {
                Tok::Number(n) => n
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Value::Number)
                    .ok_or_else(|| wrong("a number such as 0.8 or 2")),
                _ => Err(wrong("a number such as 0.8 or 2")),
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
            Type::Boolean => match &next.tok {
                Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                Tok::Ident(w) => Err(wrong("true or false")
                    .suggest_opt(nearest(w, ["true", "false"]).map(str::to_owned))),
                _ => Err(wrong("true or false")),
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
}

//! Splits a segment query into tokens, each with the line and column it starts at,
//! so every later error can point at the exact place.

use chrono::NaiveDate;

use super::SegmentError;

/// A 1-based place in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    /// Whether `left op right` holds for two ordered values.
    pub fn holds<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
        }
    }
}

/// The unit of a relative date such as `-7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or a keyword; keywords are recognised case-insensitively by the parser.
    Ident(String),
    Str(String),
    /// A number as written (`500`, `99.90`, `-3`), converted once its type is known.
    Number(String),
    Date(NaiveDate),
    /// A signed offset from today, e.g. `-7d`.
    Offset(i64, Unit),
    Cmp(CmpOp),
    LParen,
    RParen,
    Comma,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Number(n) => format!("`{n}`"),
            Tok::Date(d) => format!("`{d}`"),
            Tok::Offset(n, u) => format!("`{n:+}{}`", unit_letter(*u)),
            Tok::Cmp(op) => format!("`{}`", op.symbol()),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Eof => "the end of the query".into(),
        }
    }
}

pub fn unit_letter(unit: Unit) -> char {
    match unit {
        Unit::Day => 'd',
        Unit::Week => 'w',
        Unit::Month => 'm',
        Unit::Year => 'y',
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// Longest query accepted, so a pasted document cannot make the parser work for long.
pub const MAX_QUERY_CHARS: usize = 20_000;

pub fn tokenize(text: &str) -> Result<Vec<Token>, SegmentError> {
    if crate::domain::text::chars(text) > MAX_QUERY_CHARS {
        return Err(SegmentError::new(
            Pos { line: 1, column: 1 },
            format!("a segment query is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut column) = (0usize, 1u32, 1u32);
    // Advances over `n` characters, keeping line and column in step.
    let step = |i: &mut usize, line: &mut u32, column: &mut u32, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *column = 1;
            } else {
                *column += 1;
            }
            *i += 1;
        }
    };
    while let Some(&c) = chars.get(i) {
        let pos = Pos { line, column };
        if c.is_whitespace() {
            step(&mut i, &mut line, &mut column, 1);
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' => (Tok::Cmp(CmpOp::Eq), 1),
            '!' if next == Some('=') => (Tok::Cmp(CmpOp::Ne), 2),
            '<' if next == Some('>') => (Tok::Cmp(CmpOp::Ne), 2),
            '<' if next == Some('=') => (Tok::Cmp(CmpOp::Le), 2),
            '<' => (Tok::Cmp(CmpOp::Lt), 1),
            '>' if next == Some('=') => (Tok::Cmp(CmpOp::Ge), 2),
            '>' => (Tok::Cmp(CmpOp::Gt), 1),
            '\'' | '"' => string(&chars, i, pos)?,
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                number(&chars, i, pos)?
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count();
                (Tok::Ident(chars[i..i + len].iter().collect()), len)
            }
            other => {
                return Err(SegmentError::new(
                    pos,
                    format!("unexpected character `{other}`"),
                ));
            }
        };
        tokens.push(Token { tok, pos });
        step(&mut i, &mut line, &mut column, len);
    }
    tokens.push(Token {
        tok: Tok::Eof,
        pos: Pos { line, column },
    });
    Ok(tokens)
}

/// A quoted string; the quote is doubled to include it (`'O''Brien'`).
fn string(chars: &[char], start: usize, pos: Pos) -> Result<(Tok, usize), SegmentError> {
    let quote = chars[start];
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(SegmentError::new(
                    pos,
                    format!("this string is never closed: add a closing {quote}"),
                ));
            }
            Some(&c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                } else {
                    return Ok((Tok::Str(value), i + 1 - start));
                }
            }
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}

/// A number (`500`, `-2`, `99.90`), a date (`2026-01-31`) or an offset (`-7d`, `+3w`).
fn number(chars: &[char], start: usize, pos: Pos) -> Result<(Tok, usize), SegmentError> {
    let word: String = chars[start..]
        .iter()
        .enumerate()
        .take_while(|(k, c)| {
            c.is_ascii_alphanumeric() || **c == '.' || (**c == '-' && *k > 0) || *k == 0
        })
        .map(|(_, c)| *c)
        .collect();
    let len = word.chars().count();
    let signed = word.starts_with(['-', '+']);
    let body = word.trim_start_matches(['-', '+']);
    if !signed && body.len() == 10 && body.as_bytes().get(4) == Some(&b'-') {
        return NaiveDate::parse_from_str(body, "%Y-%m-%d")
            .map(|d| (Tok::Date(d), len))
            .map_err(|_| {
                SegmentError::new(
                    pos,
                    format!("`{word}` is not a calendar date; write dates as YYYY-MM-DD"),
                )
            });
    }
    if let Some(last) = body.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let digits = &body[..body.len() - 1];
        let unit = match last.to_ascii_lowercase() {
            'd' => Some(Unit::Day),
            'w' => Some(Unit::Week),
            'm' => Some(Unit::Month),
            'y' => Some(Unit::Year),
            _ => None,
        };
        let amount = digits.parse::<i64>().ok().filter(|n| *n <= 100_000);
        return match (signed, unit, amount) {
            (true, Some(unit), Some(n)) => {
                let n = if word.starts_with('-') { -n } else { n };
                Ok((Tok::Offset(n, unit), len))
            }
            (false, Some(_), Some(_)) => Err(SegmentError::new(
                pos,
                format!("`{word}` needs a sign: `-{word}` in the past or `+{word}` ahead"),
            )
            .suggest(format!("-{word}"))),
            _ => Err(SegmentError::new(
                pos,
                format!("`{word}` is not a number or a relative date such as -7d, -3w, -6m, +30d"),
            )),
        };
    }
    let valid = !body.is_empty()
        && body.split('.').count() <= 2
        && body
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if valid {
        Ok((Tok::Number(word), len))
    } else {
        Err(SegmentError::new(pos, format!("`{word}` is not a number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_line_and_column() {
        let toks = tokenize("a >= 5\n  AND b = '2'").expect("tokens");
        assert_eq!(toks[3].tok, Tok::Ident("AND".into()));
        assert_eq!(toks[3].pos, Pos { line: 2, column: 3 });
        assert_eq!(toks[6].tok, Tok::Str("2".into()));
        assert_eq!(
            toks[6].pos,
            Pos {
                line: 2,
                column: 11
            }
        );
    }

    #[test]
    fn dates_offsets_and_numbers() {
        let toks = tokenize("2026-01-31 -7d +3w -6m 99.90 -2").expect("tokens");
        let kinds: Vec<Tok> = toks.into_iter().map(|t| t.tok).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Date(NaiveDate::from_ymd_opt(2026, 1, 31).expect("date")),
                Tok::Offset(-7, Unit::Day),
                Tok::Offset(3, Unit::Week),
                Tok::Offset(-6, Unit::Month),
                Tok::Number("99.90".into()),
                Tok::Number("-2".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn a_bad_date_names_its_place() {
        let err = tokenize("x > 2026-02-30").expect_err("invalid date");
        assert_eq!((err.line, err.column), (1, 5));
    }
}

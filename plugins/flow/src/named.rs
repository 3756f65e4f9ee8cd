//! Enums named in settings files and on the command line ([`crate::FlowKind`],
//! [`crate::Activation`], [`crate::Loss`], [`crate::LrSchedule`]): one
//! `FromStr` each, and `Display` and serde through it, from one declaration.

/// `a`, `a or b`, `a, b or c`: the names a message offers.
pub(crate) fn alternatives(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Implements for a fieldless enum: `ALL` and `name()`, `FromStr` (names are
/// case-insensitive and `-` reads as `_`; an unknown name is a
/// [`FlowError::Invalid`](crate::FlowError::Invalid) listing the valid ones),
/// `Display`, and `Serialize`/`Deserialize` as the name (through `FromStr`).
macro_rules! named_enum {
    ($t:ident, $what:literal, [$($v:ident => $name:literal),+ $(,)?]) => {
        impl $t {
            /// Every variant, in the order the messages list them.
            pub const ALL: [$t; [$($name),+].len()] = [$($t::$v),+];

            /// The name used in files and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $($t::$v => $name),+
                }
            }
        }

        impl std::str::FromStr for $t {
            type Err = crate::error::FlowError;

            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                let key = s.to_ascii_lowercase().replace('-', "_");
                $(if key == $name {
                    return Ok($t::$v);
                })+
                Err(crate::error::FlowError::invalid(format!(concat!("unknown ", $what, " {:?}: use {}"), key, crate::named::alternatives(&[$($name),+]))))
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use named_enum;

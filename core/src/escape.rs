//! Names from outside (profiles, interfaces, messages that quote them) as a terminal may show
//! them. A leaf: everything that prints or logs such a name uses it, and it uses nothing.

/// A name from outside as a terminal may show it: control characters and backslashes
/// escaped (`\n`, `\u{1b}`, `\\`), everything else as it is. (Quoted names use `{:?}`.)
pub fn escaped(name: &str) -> String {
    escape_where(name, |c| c.is_control() || c == '\\')
}

/// A message for a terminal: control characters escaped (messages quote outside names
/// with `{:?}` already, so backslashes stay as they are).
pub fn terminal_safe(message: &str) -> String {
    escape_where(message, char::is_control)
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> String {
    text.chars()
        .map(|c| {
            if escape(c) {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

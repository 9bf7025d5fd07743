//! A loaded policy: its rules in file order, and the two questions asked of it on the
//! exchange path (may this request go? which protocols may Discovery list?).
//!
//! Rules are matched **first match wins**: the first rule, in file order, whose clients,
//! functions and protocols all take the request decides it. A CMA/SPDM request code, the
//! object length and the rate are not part of the match; they are the limits of the allow
//! rule that matched. Nothing matched: denied. DOE Discovery is always allowed.

use std::path::Path;
use std::sync::OnceLock;

use crate::compile::compile;
use crate::decision::{Decision, DenyReason, RequestInfo, RuleRef};
use crate::error::{Location, PolicyError};
use crate::format::RawPolicy;
use crate::ids::{ClientIdentity, FunctionId, ProtocolId};
use crate::rule::{Action, Rule, Selector};

/// The name under which the compiled-in default is reported.
const BUILTIN_ORIGIN: &str = "<builtin>/default.toml";
/// The message of a TOML syntax error the parser gives none for.
const SYNTAX_ERROR: &str = "invalid TOML: a value or a closing bracket is missing here";
/// The shipped default policy (`resources/policies/default.toml`).
const BUILTIN_TEXT: &str = include_str!("../../resources/policies/default.toml");

/// An admin's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    origin: String,
    rules: Vec<Rule>,
}

impl Policy {
    /// Parses and checks policy text; `origin` names it in errors (usually its path).
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let invalid = |span, message: String| PolicyError::Invalid {
            origin: origin.to_owned(),
            location: Location::of_span(text, span),
            message,
        };
        let raw: RawPolicy =
            toml::from_str(text).map_err(|err| invalid(err.span(), toml_message(&err)))?;
        let rules =
            compile(raw, text).map_err(|bad| invalid(Some(bad.span), bad.error.to_string()))?;
        Ok(Policy {
            origin: origin.to_owned(),
            rules,
        })
    }

    /// Reads, parses and checks a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The shipped default, compiled in (`resources/policies/default.toml`).
    pub fn builtin_default() -> Policy {
        static DEFAULT: OnceLock<Policy> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Policy::parse(BUILTIN_TEXT, BUILTIN_ORIGIN)
                    .expect("the shipped default policy is valid (checked by a unit test)")
            })
            .clone()
    }

    /// Where the policy came from: its path, or `<builtin>/default.toml`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that applies to this client, function and protocol.
    fn first_match(
        &self,
        client: &ClientIdentity,
        function: &FunctionId,
        protocol: ProtocolId,
    ) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|rule| rule.matches(client, function, protocol))
    }

    /// Decides one request of `client` to `function`. Pure and allocation-free; the rate
    /// limit of an allow is applied afterwards by [`crate::RateLimiter::admit`].
    pub fn evaluate(
        &self,
        client: &ClientIdentity,
        function: &FunctionId,
        request: &RequestInfo,
    ) -> Decision {
        if request.protocol == ProtocolId::DISCOVERY {
            return Decision::allow(RuleRef::Discovery, None);
        }
        let Some(rule) = self.first_match(client, function, request.protocol) else {
            return Decision::deny(DenyReason::NoMatchingRule, RuleRef::NoMatch);
        };
        let rule_ref = RuleRef::Rule(rule.id.clone());
        match within_limits(rule, request) {
            Err(reason) => Decision::deny(reason, rule_ref),
            Ok(()) => Decision::allow(rule_ref, rule.rate),
        }
    }

    /// Whether the policy allows `client` some protocol other than Discovery on
    /// `function`, whatever the function offers: the question a socket's door asks before
    /// judging each request exactly (a client allowed nothing is refused there). Rule
    /// order counts as in [`Policy::evaluate`]: every protocol some rule names is tried,
    /// and one no rule names stands for all the others (what `"*"` rules decide).
    pub fn allows_client(&self, client: &ClientIdentity, function: &FunctionId) -> bool {
        let named: Vec<ProtocolId> = self
            .rules
            .iter()
            .filter_map(|rule| match &rule.protocols {
                Selector::List(list) => Some(list.iter().copied()),
                Selector::Any => None,
            })
            .flatten()
            .collect();
        let unnamed = (0..=u8::MAX)
            .map(|object_type| ProtocolId::new(u16::MAX, object_type))
            .find(|p| !named.contains(p));
        named
            .iter()
            .copied()
            .chain(unnamed)
            .filter(|p| *p != ProtocolId::DISCOVERY)
            .any(|protocol| {
                self.first_match(client, function, protocol)
                    .is_some_and(|rule| rule.action == Action::Allow)
            })
    }

    /// The protocols of `discovered` (a function's Discovery list, in its order) that
    /// `client` may use on `function`: Discovery itself, and every protocol whose first
    /// matching rule allows it. This is what the client's Discovery is answered with.
    pub fn allowed_protocols(
        &self,
        client: &ClientIdentity,
        function: &FunctionId,
        discovered: &[ProtocolId],
    ) -> Vec<ProtocolId> {
        discovered
            .iter()
            .copied()
            .filter(|protocol| {
                *protocol == ProtocolId::DISCOVERY
                    || self
                        .first_match(client, function, *protocol)
                        .is_some_and(|rule| rule.action == Action::Allow)
            })
            .collect()
    }
}

/// The message of a TOML error on one line (the parser writes some over several, and
/// leaves some syntax errors without one).
fn toml_message(err: &toml::de::Error) -> String {
    let message = err.message().trim();
    if message.is_empty() {
        return SYNTAX_ERROR.to_owned();
    }
    message.lines().collect::<Vec<_>>().join(": ")
}

/// Checks a request against the rule that matched it.
fn within_limits(rule: &Rule, request: &RequestInfo) -> Result<(), DenyReason> {
    if rule.action == Action::Deny {
        return Err(DenyReason::ProtocolDenied);
    }
    if let Some(max_dwords) = rule.max_object_dwords {
        if request.length_dwords > max_dwords {
            return Err(DenyReason::ObjectTooLong {
                length_dwords: request.length_dwords,
                max_dwords,
            });
        }
    }
    if let (ProtocolId::CMA_SPDM, Some(filter)) = (request.protocol, rule.spdm) {
        let code = request.spdm_code.ok_or(DenyReason::SpdmRequestMissing)?;
        if !filter.allows(code) {
            return Err(DenyReason::SpdmRequestDenied(code));
        }
    }
    Ok(())
}

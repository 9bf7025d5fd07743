//! From the file as written to the rules evaluated: every check that needs more than one
//! value, each failure with the span it is about.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use crate::decision::RuleId;
use crate::error::{Location, ValidationError};
use crate::format::{
    ProtocolValue, RawPolicy, RawRate, RawRule, RawSelector, RawSpdm, SpdmCodeValue,
};
use crate::ids::ProtocolId;
use crate::rate::{RateLimit, MAX_RATE};
use crate::rule::{Action, ClientMatch, Rule, Selector, SpdmFilter};
use crate::spdm::SpdmRequestCode;
use crate::FORMAT_VERSION;

/// The smallest object: the two header dwords.
const MIN_OBJECT_DWORDS: i64 = 2;

/// A validation error and the bytes of the file it is about.
pub(crate) struct Invalid {
    pub(crate) span: Range<usize>,
    pub(crate) error: ValidationError,
}

fn invalid(span: Range<usize>, error: ValidationError) -> Invalid {
    Invalid { span, error }
}

/// Checks a deserialised policy and builds its rules; `text` is the file, for line numbers.
pub(crate) fn compile(raw: RawPolicy, text: &str) -> Result<Vec<Rule>, Invalid> {
    if *raw.version.get_ref() != FORMAT_VERSION {
        return Err(invalid(
            raw.version.span(),
            ValidationError::Version(*raw.version.get_ref()),
        ));
    }
    let mut first_use: HashMap<String, usize> = HashMap::new();
    let mut rules = Vec::with_capacity(raw.rule.len());
    for (index, spanned) in raw.rule.into_iter().enumerate() {
        let line = Location::of_offset(text, spanned.span().start).line;
        let span = spanned.span();
        let rule = spanned.into_inner();
        let name = rule_name(&rule, line, &mut first_use)?;
        let id = RuleId {
            name,
            number: index + 1,
            line,
        };
        rules.push(compile_rule(rule, id, span)?);
    }
    Ok(rules)
}

/// The rule's name, checked to be non-empty and unused by an earlier rule.
fn rule_name(
    rule: &RawRule,
    line: usize,
    first_use: &mut HashMap<String, usize>,
) -> Result<Option<String>, Invalid> {
    let Some(name) = &rule.name else {
        return Ok(None);
    };
    let text = name.get_ref();
    if text.is_empty() {
        return Err(invalid(name.span(), ValidationError::EmptyName));
    }
    if let Some(&first_line) = first_use.get(text) {
        return Err(invalid(
            name.span(),
            ValidationError::DuplicateName {
                name: text.clone(),
                first_line,
            },
        ));
    }
    first_use.insert(text.clone(), line);
    Ok(Some(text.clone()))
}

fn compile_rule(rule: RawRule, id: RuleId, span: Range<usize>) -> Result<Rule, Invalid> {
    let clients = ClientMatch {
        guests: optional_selector(rule.guests, "guests", |guest| guest.0)?,
        uids: optional_selector(rule.uids, "uids", |uid| uid)?,
        gids: optional_selector(rule.gids, "gids", |gid| gid)?,
    };
    if clients == ClientMatch::default() {
        return Err(invalid(span, ValidationError::NoClient));
    }
    let functions = optional_selector(rule.functions, "functions", |f| f)?.unwrap_or(Selector::Any);
    if rule.action == Action::Deny {
        check_no_discovery(&rule.protocols)?;
        reject_limit(rule.spdm.as_ref().map(Spanned::span), "spdm")?;
        reject_limit(
            rule.max_object_dwords.as_ref().map(Spanned::span),
            "max_object_dwords",
        )?;
        reject_limit(rule.rate.as_ref().map(Spanned::span), "rate")?;
    }
    let protocols = selector(rule.protocols, "protocols", |p| p.0)?;
    let spdm = rule
        .spdm
        .map(|spdm| spdm_filter(spdm, &protocols))
        .transpose()?;
    let max_object_dwords = rule.max_object_dwords.map(max_object).transpose()?;
    let rate = rule
        .rate
        .map(|rate| rate_limit(rate.into_inner()))
        .transpose()?;
    Ok(Rule {
        id: Arc::new(id),
        action: rule.action,
        clients,
        functions,
        protocols,
        spdm,
        max_object_dwords,
        rate,
    })
}

fn selector<T, U>(
    field: Spanned<RawSelector<T>>,
    key: &'static str,
    map: impl Fn(T) -> U,
) -> Result<Selector<U>, Invalid> {
    let span = field.span();
    match field.into_inner() {
        RawSelector::Any => Ok(Selector::Any),
        RawSelector::One(value) => Ok(Selector::List(vec![map(value)])),
        RawSelector::Many(values) if values.is_empty() => {
            Err(invalid(span, ValidationError::EmptyList(key)))
        }
        RawSelector::Many(values) => Ok(Selector::List(
            values.into_iter().map(|v| map(v.into_inner())).collect(),
        )),
    }
}

fn optional_selector<T, U>(
    field: Option<Spanned<RawSelector<T>>>,
    key: &'static str,
    map: impl Fn(T) -> U,
) -> Result<Option<Selector<U>>, Invalid> {
    field.map(|field| selector(field, key, map)).transpose()
}

/// A deny rule must not name Discovery, which is always answered.
fn check_no_discovery(protocols: &Spanned<RawSelector<ProtocolValue>>) -> Result<(), Invalid> {
    let found = match protocols.get_ref() {
        RawSelector::Any => None,
        RawSelector::One(p) => (p.0 == ProtocolId::DISCOVERY).then(|| protocols.span()),
        RawSelector::Many(list) => list
            .iter()
            .find(|p| p.get_ref().0 == ProtocolId::DISCOVERY)
            .map(Spanned::span),
    };
    match found {
        Some(span) => Err(invalid(span, ValidationError::DiscoveryDenied)),
        None => Ok(()),
    }
}

fn reject_limit(span: Option<Range<usize>>, key: &'static str) -> Result<(), Invalid> {
    match span {
        Some(span) => Err(invalid(span, ValidationError::LimitOnDeny(key))),
        None => Ok(()),
    }
}

fn spdm_filter(
    spdm: Spanned<RawSpdm>,
    protocols: &Selector<ProtocolId>,
) -> Result<SpdmFilter, Invalid> {
    let span = spdm.span();
    if !protocols.matches(|p| *p == ProtocolId::CMA_SPDM) {
        return Err(invalid(span, ValidationError::SpdmWithoutCma));
    }
    let RawSpdm { allow, deny } = spdm.into_inner();
    if allow.is_none() && deny.is_none() {
        return Err(invalid(span, ValidationError::SpdmEmpty));
    }
    let allowed = match allow {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(invalid(span, ValidationError::EmptyList("spdm.allow")))
        }
        Some(list) => Some(code_set(list)?.0),
    };
    let (_, denied) = code_set(deny.unwrap_or_default())?;
    let mut filter = allowed.unwrap_or(SpdmFilter::ALL);
    for code in denied {
        let (code_span, code) = (code.span(), code.into_inner());
        if allowed.is_some_and(|allowed| allowed.allows(code)) {
            return Err(invalid(code_span, ValidationError::SpdmBothWays(code)));
        }
        filter = filter.without(code);
    }
    Ok(filter)
}

/// The codes of one list, checked to appear once each: as a set, and in file order with
/// their spans.
fn code_set(
    list: Vec<Spanned<SpdmCodeValue>>,
) -> Result<(SpdmFilter, Vec<Spanned<SpdmRequestCode>>), Invalid> {
    let mut set = SpdmFilter::NONE;
    let mut codes = Vec::with_capacity(list.len());
    for value in list {
        let span = value.span();
        let code = value.into_inner().0;
        if set.allows(code) {
            return Err(invalid(span, ValidationError::SpdmTwice(code)));
        }
        set = set.with(code);
        codes.push(Spanned::new(span, code));
    }
    Ok((set, codes))
}

/// Largest object a DOE mailbox can carry, in dwords (PCIe r6.0 §6.30.1: 2^18); the same
/// limit as `doe_proxy::protocol::MAX_OBJECT_DWORDS`, which this leaf crate cannot name.
const MAX_OBJECT_DWORDS: usize = 1 << 18;

fn max_object(value: Spanned<i64>) -> Result<usize, Invalid> {
    let dwords = *value.get_ref();
    let max = MAX_OBJECT_DWORDS as i64;
    if !(MIN_OBJECT_DWORDS..=max).contains(&dwords) {
        return Err(invalid(value.span(), ValidationError::MaxObject(dwords)));
    }
    // In 2..=2^18, so it fits.
    Ok(dwords as usize)
}

fn rate_limit(rate: RawRate) -> Result<RateLimit, Invalid> {
    Ok(RateLimit {
        per_second: rate_field(rate.per_second, "per_second")?,
        burst: rate_field(rate.burst, "burst")?,
    })
}

fn rate_field(value: Spanned<i64>, field: &'static str) -> Result<NonZeroU32, Invalid> {
    let number = *value.get_ref();
    u32::try_from(number)
        .ok()
        .filter(|n| *n <= MAX_RATE)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            invalid(
                value.span(),
                ValidationError::Rate {
                    field,
                    value: number,
                    max: MAX_RATE,
                },
            )
        })
}

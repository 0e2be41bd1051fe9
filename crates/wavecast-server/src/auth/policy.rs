//! Authorization: whether a principal may subscribe to, or publish into, a
//! channel. The token's channel patterns restrict a connection whatever
//! the namespace rule says; personal channels `user:<id>` belong to that
//! user alone.

use crate::config::{NamespaceConfig, PublishPolicy, SubscribePolicy};

use super::pattern::glob_match;
use super::principal::Principal;

/// The namespace of personal channels.
pub const PERSONAL_NAMESPACE: &str = "user";

/// The owner of a personal channel `user:<id>`.
pub fn personal_owner(channel: &str) -> Option<&str> {
    channel
        .strip_prefix(PERSONAL_NAMESPACE)
        .and_then(|r| r.strip_prefix(':'))
}

fn token_allows(p: &Principal, channel: &str) -> bool {
    match &p.channels {
        None => true,
        Some(patterns) => patterns.iter().any(|pat| glob_match(pat, channel)),
    }
}

/// Whether `p` may subscribe to `channel`; the error says why not.
pub fn may_subscribe(p: &Principal, channel: &str, ns: &NamespaceConfig) -> Result<(), String> {
    if let Some(owner) = personal_owner(channel) {
        return match &p.user_id {
            Some(u) if p.authenticated && u == owner => Ok(()),
            _ => Err(format!("{channel:?} is another user's personal channel")),
        };
    }
    if !token_allows(p, channel) {
        return Err(format!("the token does not grant {channel:?}"));
    }
    match ns.subscribe {
        SubscribePolicy::Public => Ok(()),
        SubscribePolicy::Authenticated if p.authenticated => Ok(()),
        SubscribePolicy::Authenticated => {
            Err(format!("{channel:?} needs an authenticated connection"))
        }
        SubscribePolicy::Claim if p.channels.is_some() => Ok(()),
        SubscribePolicy::Claim => Err(format!("{channel:?} needs a token that grants it")),
    }
}

/// Whether `p` may publish into `channel` from its connection.
pub fn may_publish(p: &Principal, channel: &str, ns: &NamespaceConfig) -> Result<(), String> {
    if personal_owner(channel).is_some() {
        return Err("personal channels take messages from the server API only".into());
    }
    if !token_allows(p, channel) {
        return Err(format!("the token does not grant {channel:?}"));
    }
    let ok = match ns.publish {
        PublishPolicy::None => false,
        PublishPolicy::Public => true,
        PublishPolicy::Authenticated => p.authenticated,
        PublishPolicy::Claim => p.channels.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("clients may not publish into {channel:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, channels: Option<&[&str]>) -> Principal {
        Principal {
            authenticated: true,
            user_id: Some(id.into()),
            channels: channels.map(|c| c.iter().map(|s| s.to_string()).collect()),
            ..Principal::default()
        }
    }

    #[test]
    fn subscribe_rules() {
        let public = NamespaceConfig::default();
        let authed = NamespaceConfig {
            subscribe: SubscribePolicy::Authenticated,
            ..NamespaceConfig::default()
        };
        let claim = NamespaceConfig {
            subscribe: SubscribePolicy::Claim,
            ..NamespaceConfig::default()
        };
        let anon = Principal::anonymous();
        assert!(may_subscribe(&anon, "news", &public).is_ok());
        assert!(may_subscribe(&anon, "news", &authed).is_err());
        assert!(may_subscribe(&user("u", None), "news", &authed).is_ok());
        assert!(may_subscribe(&user("u", None), "news", &claim).is_err());
        assert!(may_subscribe(&user("u", Some(&["chat:*"])), "chat:1", &claim).is_ok());
        // Token patterns restrict even public namespaces.
        assert!(may_subscribe(&user("u", Some(&["chat:*"])), "news", &public).is_err());
        assert!(may_subscribe(&user("u", None), "user:u", &public).is_ok());
        assert!(may_subscribe(&user("u", None), "user:v", &public).is_err());
        assert!(may_subscribe(&anon, "user:", &public).is_err());
    }

    #[test]
    fn publish_rules() {
        let closed = NamespaceConfig::default();
        let open = NamespaceConfig {
            publish: PublishPolicy::Authenticated,
            ..NamespaceConfig::default()
        };
        assert!(may_publish(&user("u", None), "chat:1", &closed).is_err());
        assert!(may_publish(&user("u", None), "chat:1", &open).is_ok());
        assert!(may_publish(&Principal::anonymous(), "chat:1", &open).is_err());
        assert!(may_publish(&user("u", None), "user:u", &open).is_err());
    }
}

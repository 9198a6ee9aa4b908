//! Leader election through a coordination.k8s.io Lease, so two replicas can run and only one
//! writes. The Lease protocol itself is kube-lease-manager's; this module decides what the
//! controller does with it: wait while another replica leads, run while leading, and stop the
//! moment leadership is lost (the caller exits and the Deployment restarts a clean standby).

use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use crate::Error;

/// Where the Lease lives and how long it is held.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    /// This replica's name in the Lease (the pod name in a Deployment).
    pub identity: String,
    /// How long a Lease holds without renewal; another replica takes over after it.
    pub lease_duration: Duration,
    /// How long before expiry the holder renews; must be shorter than `lease_duration`.
    pub renew_before: Duration,
}

impl LeaderElection {
    /// The standard Lease for a replica called `identity`.
    pub fn new(namespace: &str, identity: &str) -> Self {
        LeaderElection {
            namespace: namespace.to_string(),
            lease_name: "palisade-controller".to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_before: Duration::from_secs(5),
        }
    }

    fn check(&self) -> Result<(u64, u64), Error> {
        let duration = self.lease_duration.as_secs();
        let grace = self.renew_before.as_secs();
        if grace == 0 || duration <= grace {
            return Err(Error::LeaderElection(format!(
                "the lease duration ({duration}s) must be longer than the renewal margin ({grace}s), and the margin at least 1s"
            )));
        }
        Ok((duration, grace))
    }
}

/// This replica's place in the election.
pub struct Elected {
    /// Whether this replica leads now.
    pub leading: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
}

impl Elected {
    /// Leaves the election and releases the Lease if held, so a replica that stops gracefully
    /// hands over at once instead of after the Lease expires.
    pub async fn resign(self) {
        let Elected { leading, task } = self;
        drop(leading);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("left the leader election"),
            Ok(Ok(Err(error))) => tracing::warn!(%error, "releasing the leader Lease failed; it expires on its own"),
            Ok(Err(_)) | Err(_) => tracing::warn!("releasing the leader Lease took too long; it expires on its own"),
        }
    }
}

/// Joins the election.
pub async fn join(client: Client, election: &LeaderElection) -> Result<Elected, Error> {
    let (duration, grace) = election.check()?;
    let manager = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(|error| {
            Error::LeaderElection(format!(
                "using Lease {}/{}: {error}",
                election.namespace, election.lease_name
            ))
        })?;
    let (leading, task) = manager.watch().await;
    Ok(Elected { leading, task })
}

/// Resolves once this replica leads (or never, if the election stops).
pub async fn until_leading(leading: &mut watch::Receiver<bool>) -> bool {
    leading.wait_for(|leads| *leads).await.is_ok()
}

/// Resolves once this replica no longer leads.
pub async fn until_lost(mut leading: watch::Receiver<bool>) {
    let _ = leading.wait_for(|leads| !*leads).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_margin_as_long_as_the_lease_is_refused() {
        let mut election = LeaderElection::new("palisade-system", "pod-a");
        assert_eq!(election.check().ok(), Some((15, 5)));
        election.renew_before = Duration::from_secs(15);
        let error = election.check().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("must be longer"), "{error}");
        election.renew_before = Duration::ZERO;
        assert!(election.check().is_err());
    }
}

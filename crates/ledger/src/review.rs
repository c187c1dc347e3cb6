//! Writes about a release or deployment after the fact: verifications an
//! outside tool reports, approvals, quarantines.

use crate::batch::Batch;
use crate::time::text as stamp;
use crate::{Ledger, LedgerError, NewVerification, ReleaseId, Result, now, text};
use serde_json::json;

impl Ledger {
    /// Records what an outside tool (or a person) found about a deployment.
    /// A newer report of the same name supersedes an older one.
    pub async fn report_verification(&self, v: &NewVerification) -> Result<i64> {
        text::verification(v)?;
        let v = v.clone();
        self.batched(move |b| {
            let v = v.clone();
            Box::pin(async move { Self::report_verification_in(b, &v).await })
        })
        .await
    }

    pub(crate) async fn report_verification_in(b: &mut Batch, v: &NewVerification) -> Result<i64> {
        let d = Self::deployment_in(b, v.deployment).await?;
        let id = match b.next_verification {
            Some(id) => id,
            None => {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(id) FROM verifications").fetch_one(&mut *b.tx).await?;
                max.unwrap_or(0) + 1
            }
        };
        b.next_verification = Some(id + 1);
        let row = (
            id,
            v.deployment,
            v.name.clone(),
            v.result.as_str().to_string(),
            v.link.clone(),
            v.reporter.clone(),
            stamp(now()),
        );
        b.verifications.push(row);
        let mut data = json!(v);
        data["app"] = json!(d.app);
        data["env"] = json!(d.env);
        data["release"] = json!(d.release);
        Self::audit(b, &v.reporter, "verification.reported", &v.deployment.to_string(), data).await?;
        Ok(id)
    }

    /// Records `actor`'s approval of `release` for `env` (once per actor).
    pub async fn approve(
        &self,
        app: &str,
        release: &ReleaseId,
        env: &str,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<()> {
        text::fields(&[("app", app), ("env", env), ("actor", actor)], &[("comment", comment)])?;
        let [app, release, env, actor] = [app, release.as_str(), env, actor].map(str::to_string);
        let comment = comment.map(str::to_string);
        self.batched(move |b| {
            let (app, release, env, actor, comment) =
                (app.clone(), release.clone(), env.clone(), actor.clone(), comment.clone());
            Box::pin(async move { Self::approve_in(b, &app, &release, &env, &actor, comment.as_deref()).await })
        })
        .await
    }

    pub(crate) async fn approve_in(
        b: &mut Batch,
        app: &str,
        release: &str,
        env: &str,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<()> {
        let dup = sqlx::query("SELECT id FROM approvals WHERE app = $1 AND release = $2 AND env = $3 AND actor = $4")
            .bind(app)
            .bind(release)
            .bind(env)
            .bind(actor)
            .fetch_optional(&mut *b.tx)
            .await?;
        if dup.is_some() {
            return Err(LedgerError::Refused(format!("{actor} already approved {release} of {app} for {env}")));
        }
        sqlx::query("INSERT INTO approvals (app, release, env, actor, comment, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(app)
            .bind(release)
            .bind(env)
            .bind(actor)
            .bind(comment)
            .bind(stamp(now()))
            .execute(&mut *b.tx)
            .await?;
        Self::audit(
            b,
            actor,
            "approval.recorded",
            &format!("{app}/{release}"),
            json!({"app": app, "release": release, "env": env, "comment": comment}),
        )
        .await?;
        Ok(())
    }

    /// Quarantines a release: nothing deploys or promotes it again.
    pub async fn quarantine(&self, app: &str, release: &ReleaseId, reason: &str, actor: &str) -> Result<()> {
        text::fields(&[("app", app), ("actor", actor)], &[("reason", Some(reason))])?;
        let [app, release, reason, actor] = [app, release.as_str(), reason, actor].map(str::to_string);
        self.batched(move |b| {
            let [app, release, reason, actor] = [&app, &release, &reason, &actor].map(|s| s.clone());
            Box::pin(async move { Self::quarantine_in(b, &app, &release, &reason, &actor).await })
        })
        .await
    }

    pub(crate) async fn quarantine_in(
        b: &mut Batch,
        app: &str,
        release: &str,
        reason: &str,
        actor: &str,
    ) -> Result<()> {
        if let Some(q) = Self::quarantine_of(&mut b.tx, app, release).await? {
            return Err(LedgerError::Refused(format!(
                "release {release} of {app} is already quarantined ({}, by {} at {})",
                q.reason,
                q.actor,
                stamp(q.at)
            )));
        }
        sqlx::query("INSERT INTO quarantines (app, release, reason, actor, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(app)
            .bind(release)
            .bind(reason)
            .bind(actor)
            .bind(stamp(now()))
            .execute(&mut *b.tx)
            .await?;
        Self::audit(
            b,
            actor,
            "quarantine.added",
            &format!("{app}/{release}"),
            json!({"app": app, "release": release, "reason": reason}),
        )
        .await?;
        Ok(())
    }
}

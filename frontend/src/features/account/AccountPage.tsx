import { useEffect, useId, useState, type FormEvent } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { api } from "../../lib/api";
import { formatBytes, resetTimeText } from "../../lib/errors";
import { planFacts, price } from "../../lib/plans";
import { useSession } from "../../lib/session";
import { formatDateTime } from "../../lib/status";
import { useDocumentTitle } from "../../lib/title";
import type { Me, PlanTable } from "../../lib/types";
import { TokensSection } from "./TokensSection";

/** You, your plan, today's usage, the plans, password and API tokens (#/account). */
export function AccountPage({ checkout }: { checkout?: string }) {
  useDocumentTitle("Account");
  const { me, reloadMe, config } = useSession();
  const accounts = config?.auth_mode === "accounts" || me?.auth_mode === "accounts";
  const [plans, setPlans] = useState<PlanTable | null>(null);
  const [error, setError] = useState<unknown>(null);

  // Fresh numbers each visit (and after Stripe sends the user back, the new plan).
  useEffect(() => {
    reloadMe();
    api.plans().then(setPlans, setError);
  }, [reloadMe]);

  return (
    <section className="page account-page" aria-labelledby="account-title">
      <h1 id="account-title">Account</h1>
      {checkout === "success" && (
        <p className="notice notice-info" role="status" data-testid="checkout-note">
          Thank you: your payment went through. Your plan changes as soon as the payment provider confirms it (usually within a minute);
          refresh this page to see it.
        </p>
      )}
      {checkout === "cancel" && (
        <p className="notice notice-info" role="status">
          The checkout was cancelled; nothing was charged.
        </p>
      )}
      {error !== null && <ErrorNotice error={error} />}
      {!me ? <p aria-busy="true">Loading…</p> : <Overview me={me} accounts={accounts} />}
      {plans && me && accounts && <Plans table={plans} me={me} accounts={accounts} />}
      {accounts && <PasswordForm />}
      {accounts && <TokensSection />}
    </section>
  );
}

function Overview({ me, accounts }: { me: Me; accounts: boolean }) {
  const { user, plan, usage } = me;
  return (
    <section aria-labelledby="account-you" data-testid="account-overview">
      <h2 id="account-you">You and your plan</h2>
      <dl className="meta">
        {accounts ? (
          <div>
            <dt>Email</dt>
            <dd data-testid="account-email">{user.email}</dd>
          </div>
        ) : (
          <p className="muted">This server has no accounts: you are its owner, with no limits but the server's own.</p>
        )}
        <div>
          <dt>Plan</dt>
          <dd data-testid="account-plan">
            {plan.title}
            {user.plan_until ? ` until ${formatDateTime(user.plan_until)}` : ""}
          </dd>
        </div>
        <div>
          <dt>Uploads today</dt>
          <dd data-testid="account-uploads">
            {usage.uploads_left === null
              ? `${usage.uploads_today} (no daily limit)`
              : `${usage.uploads_today} of ${plan.uploads_per_day ?? "?"}: ${usage.uploads_left} left, resets ${resetTimeText(usage.resets_at)}`}
          </dd>
        </div>
        <div>
          <dt>Separations running</dt>
          <dd>
            {usage.jobs_running} of {plan.concurrent_jobs} at once
          </dd>
        </div>
        <div>
          <dt>Storage used</dt>
          <dd data-testid="account-storage">
            {formatBytes(usage.storage_bytes)} in {usage.projects} song{usage.projects === 1 ? "" : "s"}
          </dd>
        </div>
      </dl>
    </section>
  );
}

function Plans({ table, me, accounts }: { table: PlanTable; me: Me; accounts: boolean }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const plans = table.plans;
  if (plans.length === 0) return null;
  const rows = plans.map((p) => planFacts(p));
  const onFree = accounts && me.plan.name === "free";

  const upgrade = async (interval: "month" | "year") => {
    setError(null);
    setBusy(true);
    try {
      const { url } = await api.checkout(interval);
      window.location.assign(url);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  const pro = plans.find((p) => p.name === "pro");
  return (
    <section aria-labelledby="account-plans">
      <h2 id="account-plans">Plans</h2>
      <table className="plan-table">
        <thead>
          <tr>
            <th scope="col">
              <span className="visually-hidden">Limit</span>
            </th>
            {plans.map((p) => (
              <th key={p.name} scope="col" aria-current={p.name === me.plan.name ? "true" : undefined}>
                {p.title}
                {p.name === me.plan.name ? " (yours)" : ""}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Price</th>
            {plans.map((p) => (
              <td key={p.name}>
                {p.price_month === 0 && p.price_year === 0 ? "free" : `${price(p.price_month, p.currency)} a month or ${price(p.price_year, p.currency)} a year`}
              </td>
            ))}
          </tr>
          {rows[0]!.map(([label], i) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              {rows.map((r, j) => (
                <td key={plans[j]!.name}>{r[i]![1]}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {onFree && pro && (
        <div className="upgrade" data-testid="upgrade">
          {table.checkout ? (
            <p className="actions">
              <button type="button" className="primary" disabled={busy} onClick={() => void upgrade("month")}>
                Upgrade to {pro.title}: {price(pro.price_month, pro.currency)} a month
              </button>
              <button type="button" disabled={busy} onClick={() => void upgrade("year")}>
                {price(pro.price_year, pro.currency)} a year
              </button>
            </p>
          ) : (
            <p>Ask the admin of this server to upgrade your plan.</p>
          )}
          {error !== null && <ErrorNotice error={error} />}
        </div>
      )}
    </section>
  );
}

function PasswordForm() {
  const id = useId();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone("");
    setBusy(true);
    try {
      await api.changePassword(current, next);
      setCurrent("");
      setNext("");
      setDone("Password changed. Every sign-in has ended, this one too: you will be asked to sign in again with the new password. API tokens keep working.");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Change password</h2>
      <form className="card auth-form" onSubmit={(e) => void submit(e)}>
        {/* For password managers: whose password this is. */}
        <div className="field">
          <label htmlFor={`${id}-current`}>Current password</label>
          <input id={`${id}-current`} type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-new`}>New password</label>
          <input id={`${id}-new`} type="password" autoComplete="new-password" required value={next} onChange={(e) => setNext(e.target.value)} />
        </div>
        {error !== null && <ErrorNotice error={error} />}
        <p role="status" className="small">
          {done}
        </p>
        <button type="submit" disabled={busy}>
          Change password
        </button>
      </form>
    </section>
  );
}

import { useCallback, useEffect, useId, useState, type FormEvent } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { api } from "../../lib/api";
import { useSession } from "../../lib/session";
import { formatDateTime } from "../../lib/status";
import { useDocumentTitle } from "../../lib/title";
import type { AdminUser } from "../../lib/types";

type PlanName = "free" | "pro";

/** A date input's "YYYY-MM-DD" as the end of that day (local time), in ISO; null when empty. */
export function untilIso(date: string): string | null {
  if (!date) return null;
  const end = new Date(`${date}T23:59:59`);
  return Number.isNaN(end.getTime()) ? null : end.toISOString();
}

/** The users of an accounts-mode server, for admins (#/admin): plans, disabling, new users. */
export function AdminPage() {
  useDocumentTitle("Admin");
  const { me, config } = useSession();
  const accounts = config?.auth_mode === "accounts" || me?.auth_mode === "accounts";
  if (!me) return <p aria-busy="true">Loading…</p>;
  if (!accounts || !me.user.is_admin) {
    return (
      <section className="page" aria-labelledby="admin-title">
        <h1 id="admin-title">Admin</h1>
        <p data-testid="admin-only">Only an admin can see this page.</p>
      </section>
    );
  }
  return <AdminUsers selfId={me.user.id} />;
}

function AdminUsers({ selfId }: { selfId: string }) {
  const { reloadMe } = useSession();
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState<AdminUser | null>(null);
  const [disableError, setDisableError] = useState<{ id: string; error: unknown } | null>(null);

  useEffect(() => {
    api.adminUsers().then(setUsers, setError);
  }, []);

  const replace = useCallback(
    (user: AdminUser) => {
      setUsers((list) => (list ?? []).map((u) => (u.id === user.id ? user : u)));
      if (user.id === selfId) reloadMe();
    },
    [selfId, reloadMe],
  );

  const disable = async () => {
    const user = confirming;
    setConfirming(null);
    if (!user) return;
    setDisableError(null);
    try {
      replace(await api.adminDisable(user.id));
    } catch (e) {
      setDisableError({ id: user.id, error: e });
    }
  };

  return (
    <section className="page account-page" aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <section aria-labelledby="admin-users">
        <h2 id="admin-users">Users</h2>
        {error !== null && <ErrorNotice error={error} />}
        {users === null ? (
          error === null && <p aria-busy="true">Loading…</p>
        ) : users.length === 0 ? (
          <p>No users.</p>
        ) : (
          <div className="admin-table-wrap">
            <table className="plan-table admin-users" aria-labelledby="admin-users">
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Until</th>
                  <th scope="col">Admin</th>
                  <th scope="col">Disabled</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <UserRow
                    key={u.id}
                    user={u}
                    self={u.id === selfId}
                    onChanged={replace}
                    onDisable={() => setConfirming(u)}
                    disableError={disableError?.id === u.id ? disableError.error : null}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <CreateUserForm onCreated={(u) => setUsers((list) => [...(list ?? []), u])} />
      <ConfirmDialog
        open={confirming !== null}
        title="Disable this user?"
        message={confirming ? `${confirming.email} can no longer sign in; their sign-ins and API tokens stop working now.` : ""}
        confirmLabel="Disable"
        onConfirm={() => void disable()}
        onCancel={() => setConfirming(null)}
      />
    </section>
  );
}

function UserRow({
  user,
  self,
  onChanged,
  onDisable,
  disableError,
}: {
  user: AdminUser;
  self: boolean;
  onChanged: (u: AdminUser) => void;
  onDisable: () => void;
  disableError: unknown;
}) {
  const id = useId();
  const [plan, setPlan] = useState<PlanName>(user.plan === "pro" ? "pro" : "free");
  const [until, setUntil] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");

  const setPlanNow = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone("");
    setBusy(true);
    try {
      onChanged(await api.adminSetPlan(user.id, { plan, until: plan === "pro" ? untilIso(until) : null }));
      setDone("Plan set.");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <tr data-testid="admin-user-row">
      <th scope="row" className="filename">
        {user.email}
      </th>
      <td>{user.plan === "pro" ? "Pro" : user.plan === "free" ? "Free" : user.plan}</td>
      <td>{user.plan_until ? formatDateTime(user.plan_until) : ""}</td>
      <td>{user.is_admin ? "yes" : "no"}</td>
      <td>{user.disabled ? "yes" : "no"}</td>
      <td>{formatDateTime(user.created_at)}</td>
      <td>
        <form className="admin-plan-form" onSubmit={(e) => void setPlanNow(e)}>
          <label className="visually-hidden" htmlFor={`${id}-plan`}>
            Plan for {user.email}
          </label>
          <select id={`${id}-plan`} value={plan} onChange={(e) => setPlan(e.target.value as PlanName)}>
            <option value="free">Free</option>
            <option value="pro">Pro</option>
          </select>
          <label className="visually-hidden" htmlFor={`${id}-until`}>
            Pro until (optional) for {user.email}
          </label>
          <input id={`${id}-until`} type="date" value={until} disabled={plan !== "pro"} onChange={(e) => setUntil(e.target.value)} />
          <button type="submit" disabled={busy} aria-label={`Set plan for ${user.email}`}>
            Set plan
          </button>
          {!user.disabled && !self && (
            <button type="button" className="danger" onClick={onDisable} aria-label={`Disable ${user.email}`}>
              Disable
            </button>
          )}
        </form>
        <span role="status" className="small">
          {done}
        </span>
        {error !== null && <ErrorNotice error={error} />}
        {disableError !== null && <ErrorNotice error={disableError} />}
      </td>
    </tr>
  );
}

function CreateUserForm({ onCreated }: { onCreated: (u: AdminUser) => void }) {
  const id = useId();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [plan, setPlan] = useState<PlanName>("free");
  const [admin, setAdmin] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone("");
    setBusy(true);
    try {
      const user = await api.adminCreateUser({ email: email.trim(), password, plan, admin });
      onCreated(user);
      setEmail("");
      setPassword("");
      setPlan("free");
      setAdmin(false);
      setDone(`Created ${user.email}.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Create a user</h2>
      <form className="card auth-form" onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor={`${id}-email`}>Email</label>
          <input id={`${id}-email`} type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-password`}>Password</label>
          <input id={`${id}-password`} type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-plan`}>Plan</label>
          <select id={`${id}-plan`} value={plan} onChange={(e) => setPlan(e.target.value as PlanName)}>
            <option value="free">Free</option>
            <option value="pro">Pro</option>
          </select>
        </div>
        <div className="field checkbox">
          <input id={`${id}-admin`} type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
          <label htmlFor={`${id}-admin`}>Admin</label>
        </div>
        {error !== null && <ErrorNotice error={error} />}
        <p role="status" className="small">
          {done}
        </p>
        <button type="submit" disabled={busy}>
          Create user
        </button>
      </form>
    </section>
  );
}

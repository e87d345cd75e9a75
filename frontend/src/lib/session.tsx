// The server's public config, whether (and as whom) the user is signed in, and their plan and
// usage (GET /api/me), for every page. In single mode the status is "single" from the start.
import { createContext, useCallback, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from "react";
import { api } from "./api";
import { authStatus, refreshSession, setAuthStatus, subscribeAuth, type AuthStatus } from "./auth";
import type { Me, Plan, PublicConfig } from "./types";

export interface Session {
  config: PublicConfig | null;
  status: AuthStatus;
  /** GET /api/me once signed in (or in single mode); null before it answers or when it fails. */
  me: Me | null;
  reloadMe: () => void;
}

// Without a provider (unit tests of one page): single mode, no plan known, nothing locked.
export const SessionContext = createContext<Session>({ config: null, status: "single", me: null, reloadMe: () => {} });

export function useSession(): Session {
  return useContext(SessionContext);
}

/** The signed-in user's plan, or null (unknown: nothing is locked). */
export function usePlan(): Plan | null {
  return useSession().me?.plan ?? null;
}

export function useAuthStatus(): AuthStatus {
  return useSyncExternalStore(subscribeAuth, authStatus);
}

let boot: Promise<PublicConfig> | null = null;

/** Once per page load (StrictMode runs effects twice): the config, then, in accounts mode, a refresh. */
export function bootSession(): Promise<PublicConfig> {
  boot ??= api.config().then(
    async (config) => {
      if (config.auth_mode === "accounts") await refreshSession();
      else setAuthStatus("single");
      return config;
    },
    (error: unknown) => {
      boot = null; // let a retry ask again
      throw error;
    },
  );
  return boot;
}

export function SessionProvider({ children, onBootError }: { children: ReactNode; onBootError?: (error: unknown) => void }) {
  const status = useAuthStatus();
  const [config, setConfig] = useState<PublicConfig | null>(null);
  const [me, setMe] = useState<Me | null>(null);

  useEffect(() => {
    bootSession().then(setConfig, (e: unknown) => onBootError?.(e));
  }, [onBootError]);

  const signedIn = status === "signed_in" || status === "single";
  const reloadMe = useCallback(() => {
    api.me().then(setMe, () => setMe(null));
  }, []);
  useEffect(() => {
    if (signedIn) reloadMe();
  }, [signedIn, reloadMe]);

  const value: Session = { config, status, me: signedIn ? me : null, reloadMe };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

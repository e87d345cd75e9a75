// Plans and a /api/me body for tests.
import type { Me, Plan } from "./types";

export const FREE: Plan = {
  name: "free",
  title: "Free",
  max_upload_mb: 50,
  max_duration_minutes: 10,
  uploads_per_day: 3,
  concurrent_jobs: 1,
  models: ["htdemucs", "classic"],
  max_shifts: 1,
  export_formats: ["mp3"],
  max_mp3_kbps: 192,
  lossless_stems: false,
  retention_hours: 24,
  price_month: 0,
  price_year: 0,
  currency: "eur",
};

export const PRO: Plan = {
  ...FREE,
  name: "pro",
  title: "Pro",
  uploads_per_day: 100,
  concurrent_jobs: 3,
  models: ["*"],
  export_formats: ["mp3", "wav", "flac"],
  max_mp3_kbps: 320,
  lossless_stems: true,
  retention_hours: 720,
  price_month: 9,
  price_year: 90,
};

export function me(plan: Plan = FREE, patch: Partial<Me["usage"]> = {}): Me {
  return {
    user: { id: "u1", email: "ada@example.com", is_admin: false, disabled: false, created_at: "2026-01-01T00:00:00Z", plan: plan.name, plan_until: null },
    plan,
    plan_source: null,
    usage: { uploads_today: 1, uploads_left: 2, resets_at: new Date(Date.now() + 3 * 3600_000).toISOString(), jobs_running: 0, storage_bytes: 12_345_678, projects: 4, ...patch },
    auth_mode: "accounts",
  };
}

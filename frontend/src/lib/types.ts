// Domain types, straight from the generated OpenAPI schema.
import type { components } from "../client/schema";

type Schemas = components["schemas"];
export type Project = Schemas["Project"];
export type ProjectStatus = Project["status"];
export type StemInfo = Schemas["StemOut"];
export type ProjectList = Schemas["ProjectList"];
export type Peaks = Schemas["Peaks"];
export type ExportJob = Schemas["Export"];
export type ExportRequest = Schemas["ExportRequest"];
export type ModelInfo = Schemas["ModelInfo"];
export type PublicConfig = Schemas["PublicConfig"];
export type Me = Schemas["Me"];
export type Plan = Schemas["PlanOut"];
export type PlanTable = Schemas["PlanTable"];
export type Usage = Schemas["Usage"];
export type TokenInfo = Schemas["TokenOut"];
export type TokenCreated = Schemas["TokenCreated"];
export type AdminUser = Schemas["UserOut"];
export type AdminUserCreate = Schemas["AdminUserCreate"];
export type PlanChange = Schemas["PlanChange"];

export const TERMINAL_STATUSES: readonly ProjectStatus[] = ["ready", "failed", "cancelled", "expired"];

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

export const TERMINAL_STATUSES: readonly ProjectStatus[] = ["ready", "failed", "cancelled", "expired"];

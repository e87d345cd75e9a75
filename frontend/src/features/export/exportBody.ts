import { toExportStems, type MixSettings } from "../../audio/mixmath";
import type { ExportRequest } from "../../lib/types";

export type Format = ExportRequest["format"];

/** The POST /exports body: the mix as the API names it, plus only the fields the format uses. */
export function exportBody(mix: MixSettings, format: Format, bitrate: number, bitDepth: 16 | 24): ExportRequest {
  return {
    ...toExportStems(mix),
    format,
    bitrate: format === "mp3" ? bitrate : null,
    bit_depth: format === "wav" ? bitDepth : null,
  };
}

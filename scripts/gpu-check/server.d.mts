// Types for the parts of server.mjs the tests use.
export interface DeviceLine {
  id: string;
  name: string;
  totalMiB: number;
  freeMiB: number;
}
export declare function parseDevices(text: string): DeviceLine[];

/** What engines-measure.ts prints (the parts judged). */
export interface Measurements {
  gpu?: boolean;
  device?: string;
  memory?: {
    method: 'process' | 'gpu';
    capMiB: number;
    cappedOverBaseMiB: number;
    fullOverBaseMiB: number;
    cappedLayers: string;
    [key: string]: unknown;
  } | null;
  engines?: Partial<
    Record<
      'worker' | 'server',
      { layers: string; parallelRatio: number; peerRatio: number; parallelNote?: string | null; [key: string]: unknown }
    >
  >;
  speculative?: Partial<
    Record<
      'worker' | 'server',
      { mode: string; inUse: string | null; note: string | null; predicted: number; accepted: number; [key: string]: unknown }
    >
  >;
}
export declare function judgeMeasurements(
  measurements: Measurements,
  limits: { gpu: boolean; capMiB: number; capSlackMiB: number; minParallelRatio: number; minPeerRatio: number },
): Array<{ step: string; reason: string }>;

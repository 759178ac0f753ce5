import type { Fit } from '../../shared/hub';
import type { HardwareReport } from '../../shared/inference';
import { formatBytes, formatGb } from '../../shared/format';

/**
 * The fit of `weightBytes` of weights plus `kvBytes` of KV cache for
 * `contextSize` tokens, and a multimodal projector of `projectorBytes` (its
 * weights are loaded beside the model's), against the memory free now.
 */
export function estimateFitOf(
  weightBytes: number,
  kvBytes: number,
  contextSize: number,
  hardware: HardwareReport,
  projectorBytes = 0,
): Fit {
  // Compute buffers and runtime overhead: a tenth more, at least 300 MB.
  const neededBytes = Math.round((weightBytes + projectorBytes + kvBytes) * 1.1 + 300 * 1024 ** 2);
  const withProjector = projectorBytes > 0 ? ` (its ${formatBytes(projectorBytes)} projector included)` : '';
  // A VRAM cap set by the user counts as the limit it is.
  const freeVram = hardware.backend === 'cpu' ? 0 : Math.min(hardware.vram.freeBytes, hardware.vram.capBytes ?? Number.POSITIVE_INFINITY);
  const freeRam = hardware.ram.freeBytes;
  const unified = hardware.vram.unifiedBytes > 0;
  let verdict: Fit['verdict'];
  let explanation: string;
  if (freeVram >= neededBytes) {
    verdict = 'gpu';
    explanation = `Needs about ${formatGb(neededBytes)}${withProjector} with a ${contextSize}-token context; ${formatGb(freeVram)} of ${unified ? 'unified memory' : 'VRAM'} is free.`;
  } else if (freeRam + (unified ? 0 : freeVram) >= neededBytes) {
    verdict = 'ram';
    explanation = `Needs about ${formatGb(neededBytes)}${withProjector}; ${freeVram > 0 ? `only ${formatGb(freeVram)} of VRAM is free, so part runs from RAM (${formatGb(freeRam)} free) and is slower` : `no GPU is in use, so it runs from RAM (${formatGb(freeRam)} free), more slowly`}.`;
  } else {
    verdict = 'no';
    explanation = `Needs about ${formatGb(neededBytes)}${withProjector}, but only ${formatGb(freeVram)} of VRAM and ${formatGb(freeRam)} of RAM are free.`;
  }
  return { verdict, neededBytes, contextSize, freeVramBytes: freeVram, freeRamBytes: freeRam, explanation };
}

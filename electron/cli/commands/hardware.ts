import { formatGb } from '../../../shared/format';
import { backendLabels, type HardwareReport } from '../../../shared/inference';
import type { CliIo, Command } from '../command';

function printHardware(io: CliIo, report: HardwareReport): void {
  const label = backendLabels[report.backend];
  io.out(`Backend:   ${label}${report.requested === 'auto' ? ' (automatic)' : ` (selected: ${backendLabels[report.requested]})`}`);
  io.out(`Why:       ${report.reason}`);
  for (const attempt of report.attempts)
    io.out(`           ${backendLabels[attempt.backend].padEnd(7)} ${attempt.outcome}: ${attempt.reason}`);
  io.out(`GPUs:      ${report.gpus.length ? report.gpus.map((g) => g.name).join(', ') : 'none'}`);
  if (report.vram.totalBytes > 0) {
    io.out(
      `VRAM:      ${formatGb(report.vram.freeBytes)} free of ${formatGb(report.vram.totalBytes)} (${formatGb(report.vram.usedBytes)} used)` +
        (report.vram.unifiedBytes > 0 ? `, ${formatGb(report.vram.unifiedBytes)} shared with the CPU` : '') +
        (report.vram.capBytes !== null ? `, capped at ${formatGb(report.vram.capBytes)}` : ''),
    );
  }
  io.out(`RAM:       ${formatGb(report.ram.freeBytes)} free of ${formatGb(report.ram.totalBytes)}`);
  io.out(`CPU:       ${report.cpu.model}, ${report.cpu.logicalCores} logical cores`);
  io.out(`Features:  ${report.cpu.features.join(' ') || 'none reported'}`);
  io.out(`Threads:   ${report.threads.used} (${report.threads.reason})`);
  io.out(`Versions:  node-llama-cpp ${report.versions.nodeLlamaCpp}, llama.cpp ${report.versions.llamaCpp} (${report.versions.binary})`);
  io.out(`OS:        ${report.os}`);
}

export const hardwareCommand: Command = {
  summary: 'Show the detected hardware and the inference backend chosen, and why',
  usage: 'hardware [--json]',
  async run({ io, json, services }) {
    const host = await services();
    const report = await host.handlers['inference.hardware'](undefined);
    if (json) io.out(JSON.stringify(report));
    else printHardware(io, report);
    return 0;
  },
};

import { useCallback, useEffect, useMemo, useState } from 'react';
import type { Fit } from '../../../shared/hub';
import { formatGb } from '../../../shared/format';
import { backendLabel } from '../../../shared/inference';
import { parseModelRef, type MachineHardware, type MachineInfo, type MachineKind, type RemoteModel } from '../../../shared/machines';
import { useHostEvent, useHostQuery, type QueryState } from '../../app/host-context';

/**
 * The other machines, kept current by `onMachinesChanged`. Views that only
 * add to what they show (the library, the chat's picker) pass `showsError`
 * and treat a failed read as "no other machines"; the Machines panel says why.
 */
export function useMachines(): {
  machines: MachineInfo[];
  query: QueryState<MachineInfo[]>;
  /** Puts a machine's new picture in the list (a call's answer, before its event arrives). */
  upsert: (machine: MachineInfo) => void;
  forget: (id: string) => void;
} {
  const [query, setMachines] = useHostQuery('machines.list', undefined, { showsError: true });
  useHostEvent('onMachinesChanged', setMachines);
  const machines = useMemo(() => (query.status === 'ready' ? [...query.data].sort((a, b) => a.order - b.order) : []), [query]);
  const upsert = useCallback(
    (machine: MachineInfo) =>
      setMachines((list = []) =>
        list.some((m) => m.id === machine.id) ? list.map((m) => (m.id === machine.id ? machine : m)) : [...list, machine],
      ),
    [setMachines],
  );
  const forget = useCallback((id: string) => setMachines((list = []) => list.filter((m) => m.id !== id)), [setMachines]);
  return { machines, query, upsert, forget };
}

/** The current time, renewed every second while `ticking` (a countdown on screen). */
export function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    const tick = () => setNow(Date.now());
    const first = setTimeout(tick, 0);
    const timer = setInterval(tick, 1000);
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }, [ticking]);
  return now;
}

export const kindText: Record<MachineKind, string> = { freehold: 'Freehold', openai: 'OpenAI-compatible server' };

/** "14:02" today, "3 Jan, 14:02" another day; "never" for null. */
export function formatWhen(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return at.toDateString() === new Date(now).toDateString()
    ? time
    : `${at.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, ${time}`;
}

/**
 * The machine's state in words, as honest as the host's picture: "Online",
 * "Busy", "Connecting…", "Offline since 14:02 — retrying in 12 s",
 * "Refused: <why>".
 */
export function stateText(machine: MachineInfo, now = Date.now()): string {
  switch (machine.state) {
    case 'online':
      return machine.busy ? 'Busy' : 'Online';
    case 'connecting':
      return 'Connecting…';
    case 'offline': {
      const since = `Offline since ${formatWhen(machine.since, now)}`;
      if (!machine.retryAt) return since;
      const seconds = Math.ceil((new Date(machine.retryAt).getTime() - now) / 1000);
      return seconds > 0 ? `${since} — retrying in ${seconds} s` : `${since} — retrying now`;
    }
    case 'refused':
      return `Refused: ${machine.error ?? 'the machine said no'}`;
  }
}

export function stateTone(machine: MachineInfo): 'ok' | 'warn' | 'bad' {
  return machine.state === 'online' ? 'ok' : machine.state === 'refused' ? 'bad' : 'warn';
}

/** "cuda" → "CUDA", "vulkan" → "Vulkan"; "not reported" where a server does not say. */
export function backendText(hardware: MachineHardware | null): string {
  return hardware?.backend ? backendLabel(hardware.backend) : 'not reported';
}

/** "RAM 9.0 GB free of 16.0 GB · VRAM 7.0 GB free of 8.0 GB", with what is known. */
export function memoryText(hardware: MachineHardware | null): string {
  if (!hardware) return 'not reported';
  const part = (name: string, free: number | null, total: number | null) =>
    free !== null && total !== null
      ? `${name} ${formatGb(free)} free of ${formatGb(total)}`
      : total !== null
        ? `${name} ${formatGb(total)}`
        : null;
  // No VRAM to speak of (a CPU-only machine reports 0 of 0): not a line of zeros.
  const vram = hardware.vramTotalBytes ? part('VRAM', hardware.vramFreeBytes, hardware.vramTotalBytes) : null;
  return [part('RAM', hardware.ramFreeBytes, hardware.ramTotalBytes), vram].filter(Boolean).join(' · ') || 'not reported';
}

export const fitHint: Record<Fit['verdict'], string> = { gpu: 'fits on GPU', ram: 'fits in RAM, slower', no: "won't fit" };

export interface RemoteChoice {
  machine: MachineInfo;
  model: RemoteModel;
}

/** A conversation's model on another machine, where that machine (still) lists it. */
export function findRemote(machines: MachineInfo[], ref: string | null | undefined): RemoteChoice | null {
  const parsed = ref ? parseModelRef(ref) : null;
  if (!parsed) return null;
  const machine = machines.find((m) => m.id === parsed.machineId);
  const model = machine?.models.find((m) => m.ref === ref || m.modelId === parsed.modelId);
  return machine && model ? { machine, model } : null;
}

/** Whether `ref` names another machine's model (known or not). */
export function isRemoteRef(ref: string | null | undefined): boolean {
  return !!ref && parseModelRef(ref) !== null;
}

/**
 * An estimate of how a model needing `neededBytes` (this machine's estimate)
 * fits on another machine's free memory now, as this machine's own estimate
 * weighs VRAM and RAM; null where that machine does not report its memory.
 */
export function estimateFitOn(machine: MachineInfo, neededBytes: number): Fit | null {
  const hw = machine.hardware;
  if (!hw || hw.ramFreeBytes === null) return null;
  const freeVram = hw.backend === 'cpu' ? 0 : (hw.vramFreeBytes ?? 0);
  const freeRam = hw.ramFreeBytes;
  const base = { neededBytes, contextSize: 0, freeVramBytes: freeVram, freeRamBytes: freeRam };
  const needs = `Needs about ${formatGb(neededBytes)}`;
  if (freeVram >= neededBytes)
    return { ...base, verdict: 'gpu', explanation: `${needs}; ${formatGb(freeVram)} of VRAM is free on ${machine.name}.` };
  if (freeRam + freeVram >= neededBytes)
    return {
      ...base,
      verdict: 'ram',
      explanation: `${needs}; ${machine.name} has ${formatGb(freeVram)} of VRAM and ${formatGb(freeRam)} of RAM free, so part runs from RAM, more slowly.`,
    };
  return {
    ...base,
    verdict: 'no',
    explanation: `${needs}, but ${machine.name} has only ${formatGb(freeVram)} of VRAM and ${formatGb(freeRam)} of RAM free.`,
  };
}

// The one place the window talks to Rust. Every command is typed with the
// bindings that ts-rs generates from the Rust types (src/lib/bindings).
import { invoke } from '@tauri-apps/api/core';
import type { AppStatus } from './bindings/AppStatus';
import type { CommandError } from './bindings/CommandError';
import type { DealSummary } from './bindings/DealSummary';
import type { DealTimeline } from './bindings/DealTimeline';

export type { AppStatus, CommandError, DealSummary, DealTimeline };

/** Turns whatever a failed call threw into a CommandError. */
export function asCommandError(error: unknown): CommandError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
    return error as CommandError;
  }
  return { code: 'io', message: String(error) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw asCommandError(error);
  }
}

export const api = {
  appStatus: () => call<AppStatus>('app_status'),
  listDeals: () => call<DealSummary[]>('list_deals'),
  dealTimeline: (dealId: string) => call<DealTimeline>('deal_timeline', { dealId }),
};

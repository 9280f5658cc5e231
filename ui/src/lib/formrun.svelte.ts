// The state of a settings form's two actions, "Test connection" and
// "Save": which is running, and what the last one said.
import { asCommandError } from './api';

export type Outcome = { ok: boolean; text: string };

export class FormRun {
  busy = $state<'test' | 'save' | null>(null);
  result = $state<Outcome | null>(null);

  /** Runs `work` as `kind`; its text (or its error's) becomes the result. */
  async run(kind: 'test' | 'save', work: () => Promise<string>): Promise<boolean> {
    this.busy = kind;
    this.result = null;
    try {
      this.result = { ok: true, text: await work() };
      return true;
    } catch (e) {
      this.result = { ok: false, text: asCommandError(e).message };
      return false;
    } finally {
      this.busy = null;
    }
  }
}

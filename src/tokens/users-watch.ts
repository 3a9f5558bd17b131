import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../observe/log.js';
import { UserDirectory, type User } from './users.js';

/** What a reader of users needs: the current record of a user. */
export interface Users {
  get(username: string): User | undefined;
  /** a login name: a username, else a user's `email` field */
  find(login: string): User | undefined;
}

/** The state of a watched users file, for /readyz and metrics. */
export interface UsersFileState {
  readonly file: string;
  /** null while the file on disk is the one in use; else why it was not taken */
  readonly problem: string | null;
  readonly users: number;
}

const DEBOUNCE_MS = 100;

/**
 * The users file, kept current: it is re-read when it changes on disk (a
 * demoted user loses a role at their next refresh, not at the next SIGHUP).
 * The directory is watched, not the file, because editors and config
 * management replace files by renaming a new one over them. A file that
 * fails to parse is logged and the last good version stays in use.
 */
export class WatchedUsers implements Users {
  private dir: UserDirectory;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private problem: string | null = null;
  private signature = '';

  private constructor(
    readonly file: string,
    initial: UserDirectory,
    private readonly logger: Logger,
    private readonly onChange?: (state: UsersFileState) => void,
  ) {
    this.dir = initial;
  }

  /** Reads the file (a bad file throws: start-up refuses it) and starts watching it. */
  static async open(file: string, logger: Logger, onChange?: (state: UsersFileState) => void): Promise<WatchedUsers> {
    const users = new WatchedUsers(file, UserDirectory.fromFile(file), logger, onChange);
    users.signature = await fileSignature(file);
    try {
      users.watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(file)) users.schedule();
      });
      users.watcher.on('error', (err) => logger.warn({ file, err: err.message }, 'users file: watching stopped; changes apply on SIGHUP'));
    } catch (err) {
      logger.warn({ file, err: (err as Error).message }, 'users file: cannot watch it; changes apply on SIGHUP');
    }
    onChange?.(users.state());
    return users;
  }

  get(username: string): User | undefined {
    return this.dir.get(username);
  }

  find(login: string): User | undefined {
    return this.dir.find(login);
  }

  state(): UsersFileState {
    return { file: this.file, problem: this.problem, users: this.dir.size };
  }

  /** Re-reads the file now if it changed (also what the watcher runs, debounced). */
  async reload(): Promise<void> {
    const signature = await fileSignature(this.file);
    if (signature === this.signature && this.problem === null) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
      this.dir = UserDirectory.fromText(text, this.file);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.problem)
        this.logger.error({ file: this.file, err: message }, 'users file: the new version is invalid; the last good one stays in use');
      this.problem = message;
      this.signature = signature;
      this.onChange?.(this.state());
      return;
    }
    this.signature = signature;
    this.problem = null;
    this.logger.info({ file: this.file, users: this.dir.size }, 'users file reloaded');
    this.onChange?.(this.state());
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reload().catch((err: unknown) => this.logger.error({ file: this.file, err: (err as Error).message }, 'users file: reload failed'));
    }, DEBOUNCE_MS);
    this.timer.unref();
  }
}

async function fileSignature(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

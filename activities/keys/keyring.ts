// The keys pgwarden.yaml names, resolved when needed: the current ones new data keys are wrapped for (the
// passphrase, the recipients' public keys), and every key that may open an existing data key (the current
// passphrase, private keys, and previous keys kept for reading after a rotation).
import { oncePer } from '../once.js';
import { PgwardenError } from '../../domain/errors.js';
import type { Config, PrivateKeySettings, SecretSource } from '../../config/schema.js';
import { describeSource, passphraseSource, resolveSecret } from '../../config/secrets.js';
import { passphraseFingerprint, passphraseMatches } from './fingerprint.js';
import { inspectKey, PrivateKeySession, unwrapWithPassphrase, type OpenPgpKey } from './openpgp.js';

/** Who a data key is wrapped for, as manifests and key objects record it (never a key itself). */
export type KeyRef = { type: 'passphrase'; fingerprint: string } | { type: 'openpgp'; fingerprint: string; userId?: string };

export type Opener =
  | { kind: 'passphrase'; passphrase: string; source: string; previous: boolean }
  | { kind: 'private-key'; key: OpenPgpKey; passphrase?: string; source: string; previous: boolean };

export interface Keyring {
  /** The current passphrase (new data keys are wrapped for it), if the configuration has one. */
  passphrase?: { value: string; source: string };
  /** The current recipients' public keys (new data keys are wrapped for each). */
  recipients: OpenPgpKey[];
  /** Everything that may open a data key, in the order tried: current before previous. */
  openers: Opener[];
  s2kCount?: number;
}

/** Resolves every key the configuration names (secrets read now, keys checked with gpg); once per configuration. */
export const loadKeyring: (config: Config) => Promise<Keyring> = oncePer(resolveKeyring, new WeakMap<Config, Promise<Keyring>>());

async function resolveKeyring(config: Config): Promise<Keyring> {
  const e = config.encryption;
  const openers: Opener[] = [];
  const current = passphraseSource(e);
  const passphrase = current ? { value: resolveSecret(current, 'the backup encryption passphrase'), source: describeSource(current) } : undefined;
  if (passphrase) openers.push({ kind: 'passphrase', passphrase: passphrase.value, source: passphrase.source, previous: false });
  const recipients = await Promise.all(
    e.recipients.map(async (source: SecretSource, i) => {
      const where = `encryption.recipients[${i}] (${describeSource(source)})`;
      const key = await inspectKey(resolveSecret(source, `public key ${where}`), where);
      if (key.secret) throw new PgwardenError('Config', `${where} holds a PRIVATE key: recipients are public keys (gpg --armor --export KEYID); private keys go under encryption.privateKeys.`);
      return key;
    }),
  );
  for (const [i, settings] of e.privateKeys.entries()) openers.push(await privateKeyOpener(settings, `encryption.privateKeys[${i}]`, false));
  for (const [i, settings] of e.previous.entries()) {
    const where = `encryption.previous[${i}]`;
    const asKey = settings as PrivateKeySettings;
    if (asKey.env !== undefined || asKey.file !== undefined) {
      openers.push(await privateKeyOpener(asKey, where, true));
      continue;
    }
    const source = passphraseSource(settings as { passphraseEnv?: string; passphraseFile?: string })!;
    openers.push({ kind: 'passphrase', passphrase: resolveSecret(source, `the previous passphrase ${where}`), source: `${where} (${describeSource(source)})`, previous: true });
  }
  return { ...(passphrase ? { passphrase } : {}), recipients, openers, ...(e.s2kCount ? { s2kCount: e.s2kCount } : {}) };
}

async function privateKeyOpener(settings: PrivateKeySettings, where: string, previous: boolean): Promise<Opener> {
  const source: SecretSource = settings.env !== undefined ? { env: settings.env } : { file: settings.file! };
  const what = `${where} (${describeSource(source)})`;
  const key = await inspectKey(resolveSecret(source, `private key ${what}`), `private key ${what}`);
  if (!key.secret) throw new PgwardenError('Config', `${what} holds a public key only: restores need the private key (gpg --armor --export-secret-keys KEYID).`);
  const protection = passphraseSource(settings);
  return {
    kind: 'private-key',
    key,
    ...(protection ? { passphrase: resolveSecret(protection, `the passphrase of ${what}`) } : {}),
    source: what,
    previous,
  };
}

/** Who new data keys are wrapped for, as recorded: the passphrase's fingerprint (salted for `salt`) and the recipients. */
export async function currentKeyRefs(keyring: Keyring, salt: string): Promise<KeyRef[]> {
  const refs: KeyRef[] = [];
  if (keyring.passphrase) refs.push({ type: 'passphrase', fingerprint: await passphraseFingerprint(keyring.passphrase.value, salt) });
  for (const key of keyring.recipients) refs.push({ type: 'openpgp', fingerprint: key.fingerprint, ...(key.userId ? { userId: key.userId } : {}) });
  return refs;
}

/** Same keys, whatever the order and the user ids. */
export function sameKeys(a: KeyRef[], b: KeyRef[]): boolean {
  const ids = (refs: KeyRef[]) => refs.map((r) => `${r.type}:${r.fingerprint}`).sort().join(',');
  return ids(a) === ids(b);
}

/** Compact form for object metadata (ASCII, no user ids): "p:scrypt:…,k:FINGERPRINT". */
export function encodeKeyRefs(refs: KeyRef[]): string {
  return refs.map((r) => `${r.type === 'passphrase' ? 'p' : 'k'}:${r.fingerprint}`).join(',');
}

export function decodeKeyRefs(text: string | undefined): KeyRef[] | undefined {
  if (!text) return undefined;
  return text.split(',').map((item) => (item.startsWith('p:') ? { type: 'passphrase', fingerprint: item.slice(2) } : { type: 'openpgp', fingerprint: item.slice(2) }));
}

/** "the passphrase scrypt:1a2b…", "OpenPGP key 689E…5BA (ops <ops@cartly.example>)". */
export function describeKeyRef(ref: KeyRef): string {
  if (ref.type === 'passphrase') return `a passphrase (fingerprint ${ref.fingerprint.slice(0, 18)}…)`;
  return `OpenPGP key ${ref.fingerprint}${ref.userId ? ` (${ref.userId})` : ''}`;
}

export function describeOpener(opener: Opener): string {
  return opener.kind === 'passphrase' ? `the passphrase in ${opener.source}` : `the private key ${opener.key.fingerprint} in ${opener.source}`;
}

/** Which configured key matches one of `refs` (without opening anything); undefined when none does. */
export async function matchingOpener(keyring: Keyring, refs: KeyRef[]): Promise<Opener | undefined> {
  for (const opener of keyring.openers) {
    if (opener.kind === 'private-key' && refs.some((r) => r.type === 'openpgp' && opener.key.fingerprints.includes(r.fingerprint))) return opener;
    if (opener.kind === 'passphrase') {
      for (const ref of refs) if (ref.type === 'passphrase' && (await passphraseMatches(opener.passphrase, ref.fingerprint))) return opener;
    }
  }
  return undefined;
}

/**
 * The error for a data key that no configured key opens: says which operation needs it (`operation`, "a restore"
 * unless told), which keys would open it, and where to put one.
 */
export function noKeyError(keyring: Keyring, refs: KeyRef[] | undefined, what: string, operation = 'a restore'): PgwardenError {
  const named = refs?.length ? refs.map(describeKeyRef).join(', ') : undefined;
  if (keyring.openers.length === 0) {
    const holder = named ? `the private key of ${named}` : 'a private key the data keys are wrapped for (`pgwarden backups list` shows which)';
    return new PgwardenError(
      'Config',
      `This worker has only public keys (encryption.recipients): it can make backups and archive WAL, but it cannot open ${what}, which ${operation} needs. ` +
        `Run ${operation} on a machine that has ${holder}: configure it under encryption.privateKeys (with passphraseEnv if it is protected).`,
    );
  }
  return new PgwardenError(
    'Integrity',
    `None of the configured keys opens ${what}, which ${operation} needs: it is wrapped for ${named ?? 'keys the repository does not record'}; configured: ${keyring.openers.map(describeOpener).join('; ')}. ` +
      'Set the passphrase it was made with (after a rotation: keep the old one under encryption.previous), or configure its private key under encryption.privateKeys.',
  );
}

/**
 * Opens wrapped data keys with the configured keys: those the key object names first. Private keys are imported
 * into a GnuPG home of their own for as long as the opener lives: close() removes them.
 */
export class DataKeyOpener {
  private readonly sessions = new Map<string, PrivateKeySession>();

  constructor(readonly keyring: Keyring) {}

  async open(wrapped: Buffer, refs: KeyRef[] | undefined, what: string): Promise<{ secret: string; openedWith: Opener }> {
    const first = refs ? await matchingOpener(this.keyring, refs) : undefined;
    const order = first ? [first, ...this.keyring.openers.filter((o) => o !== first)] : this.keyring.openers;
    for (const opener of order) {
      const secret = opener.kind === 'passphrase' ? await unwrapWithPassphrase(wrapped, opener.passphrase) : await this.session(opener).unwrap(wrapped);
      if (secret) return { secret, openedWith: opener };
      if (opener === first && refs) {
        // The recorded fingerprint matched but the key did not open it: the key object is damaged.
        throw new PgwardenError('Integrity', `${what} does not open with ${describeOpener(opener)}, although it is recorded as wrapped for it: the key object is damaged. Restore from another repository.`);
      }
    }
    throw noKeyError(this.keyring, refs, what);
  }

  private session(opener: Extract<Opener, { kind: 'private-key' }>): PrivateKeySession {
    let session = this.sessions.get(opener.key.fingerprint);
    if (!session) {
      session = new PrivateKeySession(opener.key, opener.passphrase, opener.source);
      this.sessions.set(opener.key.fingerprint, session);
    }
    return session;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
    this.sessions.clear();
  }
}

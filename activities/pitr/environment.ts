// The environment a restored postmaster (and so its restore_command and archive_command) gets beyond what any tool
// needs: the secrets its pgwarden.yaml names (passphrases, S3 keys), the AWS SDK's own settings and a CA bundle for
// Node. Not the source's connection, not the worker's other secrets; and never on a command line (see LocalCluster.run).
// Recovery needs them; a copy that archives nothing is restarted without them once it has promoted (recover.ts).
import type { Config } from '../../config/schema.js';
import { passphraseEnvVars } from '../../config/secrets.js';
import { walRepositoryName } from '../wal/open.js';

export function secretsEnvironment(config: Config, database: string): Record<string, string> {
  const env: Record<string, string> = {};
  // WAL data keys are placed in the spool (restoreBaseBackup): only a passphrase may be needed, for WAL from before.
  const names = ['NODE_EXTRA_CA_CERTS', ...passphraseEnvVars(config)];
  const repo = config.repositories[walRepositoryName(config, database)];
  if (repo?.type === 's3') names.push(...[repo.accessKeyIdEnv, repo.secretAccessKeyEnv].filter((n): n is string => Boolean(n)));
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && (names.includes(key) || key.startsWith('AWS_'))) env[key] = value;
  }
  return env;
}

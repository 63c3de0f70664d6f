// The monitor's view of one database: what the repositories (and Temporal) say, with the thresholds to judge it by.
import { alertThresholds } from '../config/alerts.js';
import type { Config } from '../config/schema.js';
import type { AlertThresholds } from '../domain/alerts.js';
import type { DatabaseHealth } from '../domain/health.js';
import { databaseHealth } from './catalog/health.js';
import { activityClient } from './workflow-runs.js';

export function monitorActivities(config: Config) {
  return {
    async observeDatabase(input: { database: string }): Promise<{ health: DatabaseHealth; thresholds: AlertThresholds }> {
      const temporal = activityClient(); // undefined when not inside a worker
      const health = await databaseHealth(config, input.database, temporal ? { temporal } : {});
      // The rules need ages and states, not the reports: keep the monitor's history small.
      const { drill: _drill, verify: _verify, comparison: _comparison, ...brief } = health;
      return { health: brief, thresholds: alertThresholds(config, input.database) };
    },
  };
}

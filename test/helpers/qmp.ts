/** The QMP client lives in scripts/lib (the demo needs it too); tests import it from here. */
export { FORK_REFUSED_BY_SPAWN_DENY, QmpClient, QmpError, migrate } from '../../scripts/lib/qmp';
export type {
  Json,
  JsonObject,
  MigrationOutcome,
  QmpEvent,
  QmpGreeting,
} from '../../scripts/lib/qmp';

/** The QMP client lives in scripts/lib (the demo needs it too); tests import it from here. */
export { QmpClient, QmpError } from '../../scripts/lib/qmp';
export type { Json, JsonObject, QmpEvent, QmpGreeting } from '../../scripts/lib/qmp';

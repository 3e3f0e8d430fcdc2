/**
 * The bash and files plugins through the runtime on the host: `agentix serve`
 * (gen + compile + server + worker, as real child processes on 127.0.0.1)
 * on a fixture project that keeps the default plugins, called with
 * RuntimeClient. The same bodies run against Docker sandboxes (suite.ts).
 */
import { serveFixture } from './helpers.js';
import { pluginSuite } from './suite.js';

pluginSuite('plugins through agentix serve', () => serveFixture()).run();

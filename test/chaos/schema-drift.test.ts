import { chaosSuite } from './suite.js';

chaosSuite('schema-drift');

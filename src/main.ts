import { bootConfig, failStart } from './boot.ts';
import { serve } from './serve.ts';

/** Entry point (`npm start`): every role in one process, as configured by the environment. */
serve(bootConfig('honeytrail')).catch(failStart('honeytrail'));

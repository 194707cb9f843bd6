import { benchMqtt } from '../dist/bench/mqtt.js'; await benchMqtt();

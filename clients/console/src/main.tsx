// The Weft console: a client of the public HTTP API, served by the gateway at /.
import { render } from "preact";
import { App } from "./app.js";
import { fabric } from "./fabric-status.js";
import "./styles.css";

fabric.start();
render(<App />, document.getElementById("app")!);

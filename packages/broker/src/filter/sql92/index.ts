export { compileSql92, type PropertyGetter, type Sql92Filter } from "./compile.js";
export { Sql92ParseError } from "./lexer.js";
export { Sql92EvalError } from "./values.js";

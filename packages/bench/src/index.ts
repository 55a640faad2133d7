// Public entry of @antlerfs/bench: the run and its report, for the antler-bench command and for
// anyone who wants the figures as data.
export { benchMain, runBench } from './bench-run.ts';
export { BENCH_SCHEMA, BENCH_VERSION, resolveParams, type BenchParams } from './config.ts';
export {
  compareReports, formatTable, readReport, writeReport, type BenchReport, type Figure,
} from './report.ts';
export { formatHtml, writeHtmlReport } from './html-report.ts';
export { REFERENCE_NAME, referenceFor, type Reference } from './reference.ts';

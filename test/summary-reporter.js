// Prints one plain closing line, "jest: N passed, N failed, N skipped", after
// jest's own summary: CI reads that form in any language, jest's own
// "Tests: N passed, N total" it does not.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    process.stdout.write(
      `jest: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`,
    );
  }
}
module.exports = SummaryReporter;

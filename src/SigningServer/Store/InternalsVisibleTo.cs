using System.Runtime.CompilerServices;

// The store's contract tests read the audit commit counter (group commit) from outside the assembly.
[assembly: InternalsVisibleTo("DTrust.Store.Tests")]

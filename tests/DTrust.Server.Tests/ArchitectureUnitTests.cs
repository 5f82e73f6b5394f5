using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// The trust boundaries are projects, so the compiler says what may call what; these tests keep the graph itself
/// from drifting: which project references which, and where gRPC, SQL drivers and PKCS#11 may appear at all.
/// </summary>
public sealed class ArchitectureUnitTests
{
    /// <summary>The whole allowed graph of src/ (ARCHITECTURE.md's layout, with the store and the CA split out).</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Cms"] = [],
        ["Contracts"] = [],
        ["Core"] = [],
        ["KeyVault"] = [],
        ["Tsa"] = ["Cms"],
        ["Store"] = ["Core", "KeyVault"],
        ["Pki"] = ["Core", "KeyVault", "Tsa"],
        ["SigningServer"] = ["Cms", "Contracts", "Core", "KeyVault", "Pki", "Store", "Tsa"],
        ["Client"] = ["Cms", "Contracts"],
    };

    public static TheoryData<string> Projects => [.. Allowed.Keys];

    [Theory]
    [MemberData(nameof(Projects))]
    public void Each_project_references_exactly_the_projects_its_boundary_allows(string project)
    {
        var references = ProjectReferences(project);
        Assert.Equal(Allowed[project].Order(StringComparer.Ordinal), references.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Src_holds_no_project_the_graph_does_not_name() =>
        Assert.Equal(
            Allowed.Keys.Order(StringComparer.Ordinal),
            Directory.GetDirectories(Path.Combine(RepoPaths.Root, "src")).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal));

    [Theory]
    [InlineData("Grpc", new[] { "Contracts", "SigningServer", "Client" })]
    [InlineData("Google.Protobuf", new[] { "Contracts", "SigningServer", "Client" })]
    [InlineData("Npgsql", new[] { "Store" })]
    [InlineData("Microsoft.Data.Sqlite", new[] { "Store" })]
    [InlineData("Pkcs11Interop", new[] { "KeyVault" })]
    public void A_package_of_one_boundary_appears_only_there(string package, string[] only)
    {
        foreach (var project in Allowed.Keys.Except(only))
        {
            var packages = Packages(project);
            Assert.DoesNotContain(packages, p => p.StartsWith(package, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("DTrust.Store")]
    [InlineData("DTrust.Pki")]
    [InlineData("DTrust.Core")]
    public void The_compiled_store_and_ca_reference_no_grpc_and_not_each_other(string assembly)
    {
        var references = ReferencedAssemblies(assembly);
        Assert.DoesNotContain(references, r => r.StartsWith("Grpc", StringComparison.Ordinal) || r.StartsWith("Google.Protobuf", StringComparison.Ordinal));
        Assert.DoesNotContain(references, r => r is "DTrust.SigningServer" or "DTrust.Contracts");
        Assert.DoesNotContain(references, r => r == (assembly == "DTrust.Store" ? "DTrust.Pki" : "DTrust.Store"));
    }

    /// <summary>What the built assembly references, read from its metadata (this project runs the server as a process).</summary>
    private static string[] ReferencedAssemblies(string assembly)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Debug" : "Release";
        var path = Path.Combine(RepoPaths.Root, "src", "SigningServer", "bin", configuration, "net10.0", assembly + ".dll");
        using var pe = new PEReader(File.OpenRead(path));
        var metadata = pe.GetMetadataReader();
        return [.. metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name))];
    }

    private static XDocument Load(string project) =>
        XDocument.Load(Path.Combine(RepoPaths.Root, "src", project, $"DTrust.{project}.csproj"));

    private static string[] ProjectReferences(string project) =>
    [
        .. Load(project).Descendants("ProjectReference")
            .Select(r => Path.GetFileNameWithoutExtension(r.Attribute("Include")!.Value)["DTrust.".Length..]),
    ];

    private static string[] Packages(string project) =>
        [.. Load(project).Descendants("PackageReference").Select(r => r.Attribute("Include")!.Value)];
}

namespace DTrust.Testing;

/// <summary>Locates the checkout, so fixtures can call the same scripts as <c>make run</c>.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Script(string name) => Path.Combine(Root, "scripts", name);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DTrust.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DTrust.sln not found above " + AppContext.BaseDirectory);
    }
}

using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// A secret file another local account could read stops the server at start-up (finding 14): each case opens one
/// file to the group and starts a real server on that state directory. The refusal names the file, never its content.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SecretFileTests
{
    [Theory]
    [InlineData("hsm/pins/qualified.pin", "'qualified' token PIN")]
    [InlineData("keys/otp-hmac.key", "one-time code secret")]
    [InlineData("keys/operator.key", "API key")]
    [InlineData("dtrust.db", "SQLite store")]
    public async Task A_group_readable_secret_file_refuses_the_start(string file, string what)
    {
        var state = Path.Combine(Path.GetTempPath(), "dtrust-secret-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            // A first start makes every file the way production would have it (0600), then one is opened up.
            await (await ServerProcess.StartAsync(stateDir: state)).DisposeAsync();
            var path = Path.Combine(state, file);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(stateDir: state));
            Assert.Contains($"the {what}", refused.Message, StringComparison.Ordinal);
            Assert.Contains(path + "' is readable or writable by group or others", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}

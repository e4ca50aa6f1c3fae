using System.Text;
using Apiary.Home;
using Apiary.Secrets;
using Apiary.Testing;

namespace Apiary.Tests.Secrets;

public sealed class FileSecretStoreTests : IDisposable
{
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // Distinctive enough that finding it anywhere on disk or in a message can only mean a leak.
    private const string Value = "sk-live-PLAINTEXT-CANARY-7f3a9c2e";

    private readonly TestHome _home = new();
    private readonly FileSecretStore _store;

    public FileSecretStoreTests()
    {
        _store = new FileSecretStore(_home.Home);
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _home.Dispose();

    [Theory]
    [InlineData(Value)]
    [InlineData("")]
    [InlineData("line one\nline two\r\n  indented\t\n")]
    [InlineData("ünïcødé ✓ 秘密 🐝")]
    public async Task SetThenGet_AnyText_RoundTrips(string value)
    {
        await _store.SetAsync("API_KEY", value, Token);

        Assert.Equal(value, await _store.GetAsync("API_KEY", Token));
    }

    [Fact]
    public async Task Set_Twice_SecondValueWins()
    {
        await _store.SetAsync("TOKEN", "first", Token);
        await _store.SetAsync("TOKEN", "second", Token);

        Assert.Equal("second", await _store.GetAsync("TOKEN", Token));
        Assert.Equal(["TOKEN"], await _store.ListAsync(Token));
    }

    [Fact]
    public async Task Get_UnknownName_ReturnsNull()
    {
        Assert.Null(await _store.GetAsync("NOTHING_YET", Token));
        Assert.False(Directory.Exists(_store.SecretsDirectory), "reading must not create folders");
        Assert.False(Directory.Exists(_store.KeysDirectory), "reading must not create a key");

        await _store.SetAsync("OTHER", Value, Token);

        Assert.Null(await _store.GetAsync("NOTHING_YET", Token));
    }

    [Fact]
    public async Task List_SeveralSecrets_NamesSortedOrdinally()
    {
        foreach (var name in new[] { "b", "_private", "A2", "a", "A10", "Z" })
        {
            await _store.SetAsync(name, Value, Token);
        }

        Assert.Equal(["A10", "A2", "Z", "_private", "a", "b"], await _store.ListAsync(Token));
    }

    [Fact]
    public async Task List_StrayFiles_AreNotSecrets()
    {
        await _store.SetAsync("REAL", Value, Token);
        File.WriteAllText(Path.Combine(_store.SecretsDirectory, "README.txt"), "notes");
        File.WriteAllText(Path.Combine(_store.SecretsDirectory, "not-a-name.secret"), "x");
        File.WriteAllText(Path.Combine(_store.SecretsDirectory, ".REAL.secret.0123456789abcdef.tmp"), "half written");

        Assert.Equal(["REAL"], await _store.ListAsync(Token));
    }

    [Fact]
    public async Task List_NoSecretsFolder_IsEmpty()
    {
        Assert.Empty(await _store.ListAsync(Token));
    }

    [Fact]
    public async Task Remove_Existing_RemovesOnlyThatSecret()
    {
        await _store.SetAsync("KEEP", "kept", Token);
        await _store.SetAsync("DROP", Value, Token);

        Assert.True(await _store.RemoveAsync("DROP", Token));

        Assert.Null(await _store.GetAsync("DROP", Token));
        Assert.False(File.Exists(_store.FileOf("DROP")));
        Assert.Equal(["KEEP"], await _store.ListAsync(Token));
        Assert.Equal("kept", await _store.GetAsync("KEEP", Token));
    }

    [Fact]
    public async Task Remove_Unknown_ReturnsFalse()
    {
        Assert.False(await _store.RemoveAsync("NEVER_SET", Token));

        await _store.SetAsync("ONCE", Value, Token);
        Assert.True(await _store.RemoveAsync("ONCE", Token));
        Assert.False(await _store.RemoveAsync("ONCE", Token));
    }

    [Fact]
    public async Task Set_First_CreatesOwnerOnlyFoldersAndFiles()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        await _store.SetAsync("OTHER", Value, Token);

        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(_store.KeysDirectory));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(_store.KeyFile));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(_store.SecretsDirectory));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(_store.FileOf("API_KEY")));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(_store.FileOf("OTHER")));
    }

    [Fact]
    public async Task Set_LooseFolders_AreTightenedAgain()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        var loose = OwnerOnlyFolder | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(_store.SecretsDirectory, loose);
        File.SetUnixFileMode(_store.KeysDirectory, loose);

        await _store.SetAsync("API_KEY", "rotated", Token);

        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(_store.SecretsDirectory));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(_store.KeysDirectory));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(_store.FileOf("API_KEY")));
    }

    [Fact]
    public async Task Set_Value_PlaintextIsInNoFileUnderTheHome()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        await _store.SetAsync("API_KEY", Value + "-v2", Token);
        await _store.SetAsync("COPY", Value, Token);

        var files = Directory.EnumerateFiles(_home.Home.Root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).ToList();
        Assert.Contains(_store.FileOf("API_KEY"), files);
        Assert.Contains(_store.KeyFile, files);
        foreach (var file in files)
        {
            var bytes = await File.ReadAllBytesAsync(file, Token);
            foreach (var encoding in new Encoding[] { Encoding.UTF8, Encoding.Unicode })
            {
                var needle = encoding.GetBytes("PLAINTEXT-CANARY");
                Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{file} holds the value in plain {encoding.WebName}");
            }

            var base64 = Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(Value))[..16]);
            Assert.True(bytes.AsSpan().IndexOf(base64) < 0, $"{file} holds the value in base64");
        }
    }

    [Fact]
    public async Task Set_Key_IsKeptApartFromTheValues()
    {
        await _store.SetAsync("API_KEY", Value, Token);

        var key = await File.ReadAllBytesAsync(_store.KeyFile, Token);
        Assert.Equal(32, key.Length);
        Assert.False(IsInside(_store.KeyFile, _store.SecretsDirectory), "the key must not live in the secrets folder");
        Assert.False(IsInside(_store.SecretsDirectory, _store.KeysDirectory));
        foreach (var file in Directory.EnumerateFiles(_store.SecretsDirectory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var bytes = await File.ReadAllBytesAsync(file, Token);
            Assert.True(bytes.AsSpan().IndexOf(key) < 0, $"{file} holds the key");
            Assert.True(bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(Convert.ToBase64String(key))) < 0, $"{file} holds the key in base64");
        }
    }

    [Fact]
    public async Task Set_SameValueTwice_EncryptsDifferentlyEachTime()
    {
        await _store.SetAsync("A", Value, Token);
        var first = await File.ReadAllBytesAsync(_store.FileOf("A"), Token);
        await _store.SetAsync("A", Value, Token);
        var second = await File.ReadAllBytesAsync(_store.FileOf("A"), Token);
        await _store.SetAsync("B", Value, Token);
        var other = await File.ReadAllBytesAsync(_store.FileOf("B"), Token);

        Assert.NotEqual(first, second);
        Assert.NotEqual(first.AsSpan(1, 12).ToArray(), second.AsSpan(1, 12).ToArray());
        Assert.NotEqual(second, other);
    }

    [Fact]
    public async Task Set_Done_LeavesNoTemporaryFiles()
    {
        for (var i = 0; i < 5; i++)
        {
            await _store.SetAsync("A", $"{Value}{i}", Token);
        }

        Assert.Equal([_store.FileOf("A")], Directory.GetFiles(_store.SecretsDirectory));
        Assert.Equal([_store.KeyFile], Directory.GetFiles(_store.KeysDirectory));
        Assert.Empty(Directory.GetFileSystemEntries(_home.Home.Root, ".*"));
    }

    [Fact]
    public async Task Set_EmptyKeysFolderLeftBehind_MakesTheKeyInIt()
    {
        Directory.CreateDirectory(_store.KeysDirectory);

        await _store.SetAsync("A", Value, Token);

        Assert.Equal(Value, await _store.GetAsync("A", Token));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(_store.KeysDirectory));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(_store.KeyFile));
    }

    [Fact]
    public async Task Set_KeysFolderWithOtherFiles_AddsTheKeyAndKeepsThem()
    {
        var other = _home.Scratch.Write("user/.apiary/keys/other.key", "not ours");

        await _store.SetAsync("A", Value, Token);

        Assert.Equal(Value, await _store.GetAsync("A", Token));
        Assert.Equal("not ours", await File.ReadAllTextAsync(other, Token));
        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(_store.KeysDirectory));
        Assert.Empty(Directory.GetFileSystemEntries(_home.Home.Root, ".*"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(20)]
    [InlineData(29)]
    [InlineData(-1)]
    public async Task Get_FileWithOneByteFlipped_ThrowsAndNeverReturnsGarbage(int offset)
    {
        await _store.SetAsync("API_KEY", Value, Token);
        var path = _store.FileOf("API_KEY");
        var bytes = await File.ReadAllBytesAsync(path, Token);
        bytes[offset < 0 ? bytes.Length + offset : offset] ^= 0x01;
        await File.WriteAllBytesAsync(path, bytes, Token);

        var ex = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("set the secret again", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("CANARY", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TruncatedFile_Throws()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        var path = _store.FileOf("API_KEY");
        var bytes = await File.ReadAllBytesAsync(path, Token);
        await File.WriteAllBytesAsync(path, bytes[..^4], Token);

        await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));

        await File.WriteAllBytesAsync(path, bytes[..10], Token);
        var ex = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));
        Assert.Contains("shorter than any encrypted value", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_HugeFile_IsRefusedWithoutReadingIt()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        await File.WriteAllBytesAsync(_store.FileOf("API_KEY"), new byte[FileSecretStore.MaxValueBytes + 1024], Token);

        var ex = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));

        Assert.Contains(_store.FileOf("API_KEY"), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ValueFileRenamedToAnotherSecret_FailsToDecrypt()
    {
        await _store.SetAsync("ADMIN_TOKEN", Value, Token);
        await _store.SetAsync("GUEST_TOKEN", "guest", Token);

        // An attacker who can write the secrets folder but not read the key moves a value to a name they can use.
        File.Copy(_store.FileOf("ADMIN_TOKEN"), _store.FileOf("GUEST_TOKEN"), overwrite: true);
        File.Move(_store.FileOf("ADMIN_TOKEN"), _store.FileOf("NEW_NAME"));

        var swapped = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("GUEST_TOKEN", Token));
        var renamed = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("NEW_NAME", Token));
        Assert.Contains(_store.FileOf("GUEST_TOKEN"), swapped.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("CANARY", swapped.ToString() + renamed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ValueFileFromAnotherHome_FailsToDecrypt()
    {
        using var otherHome = new TestHome();
        var other = new FileSecretStore(otherHome.Home);
        await other.SetAsync("API_KEY", Value, Token);
        await _store.SetAsync("API_KEY", "mine", Token);

        File.Copy(other.FileOf("API_KEY"), _store.FileOf("API_KEY"), overwrite: true);

        await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));
    }

    [Fact]
    public async Task Get_KeyMissing_ThrowsNamingKeyAndFix()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        File.Delete(_store.KeyFile);

        var ex = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));

        Assert.Contains(_store.KeyFile, ex.Message, StringComparison.Ordinal);
        Assert.Contains(_store.FileOf("API_KEY"), ex.Message, StringComparison.Ordinal);
        Assert.Contains("Restore the key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Set_KeyMissingButValuesExist_RefusesToOrphanThem()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        var key = await File.ReadAllBytesAsync(_store.KeyFile, Token);
        File.Delete(_store.KeyFile);

        var ex = await Assert.ThrowsAsync<ApiaryException>(() => _store.SetAsync("NEW_ONE", "x", Token));

        Assert.Contains(_store.KeyFile, ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_store.KeyFile), "a new key would make the existing values unreadable for good");
        Assert.Equal(["API_KEY"], await _store.ListAsync(Token));

        // Restoring the key brings the value back, which a replaced key never could.
        await File.WriteAllBytesAsync(_store.KeyFile, key, Token);
        Assert.Equal(Value, await _store.GetAsync("API_KEY", Token));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(4096)]
    public async Task Get_KeyOfWrongLength_Throws(int length)
    {
        await _store.SetAsync("API_KEY", Value, Token);
        await File.WriteAllBytesAsync(_store.KeyFile, new byte[length], Token);

        var ex = await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));

        Assert.Contains(_store.KeyFile, ex.Message, StringComparison.Ordinal);
        Assert.Contains("exactly 32 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_KeyReplacedWithAnother_FailsToDecrypt()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        await File.WriteAllBytesAsync(_store.KeyFile, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), Token);

        await Assert.ThrowsAsync<ApiaryException>(() => _store.GetAsync("API_KEY", Token));
    }

    [Fact]
    public async Task Get_NewStoreOnSameHome_ReadsTheSameValues()
    {
        await _store.SetAsync("API_KEY", Value, Token);
        await _store.SetAsync("DB_PASSWORD", "hunter2", Token);

        var restarted = new FileSecretStore(new ApiaryHome(_home.Home.Root, _home.UserHome));

        Assert.Equal(Value, await restarted.GetAsync("API_KEY", Token));
        Assert.Equal("hunter2", await restarted.GetAsync("DB_PASSWORD", Token));
        Assert.Equal(["API_KEY", "DB_PASSWORD"], await restarted.ListAsync(Token));
    }

    [Fact]
    public async Task Set_ConcurrentFirstWritesFromSeparateStores_ShareOneKey()
    {
        // Each store is a stand-in for a separate process: nothing is shared between them but the files.
        var names = Enumerable.Range(0, 16).Select(i => $"S{i}").ToList();
        using var start = new ManualResetEventSlim();
        var writers = names.Select(n => Task.Run(
            async () =>
            {
                start.Wait(Token);
                await new FileSecretStore(new ApiaryHome(_home.Home.Root, _home.UserHome)).SetAsync(n, $"{Value}-{n}", Token);
            },
            Token)).ToList();
        start.Set();
        await Task.WhenAll(writers);

        foreach (var name in names)
        {
            Assert.Equal($"{Value}-{name}", await _store.GetAsync(name, Token));
        }
    }

    [Fact]
    public async Task Set_ValueAtTheLimit_IsKeptAndOneByteMoreIsRefused()
    {
        var atLimit = new string('x', FileSecretStore.MaxValueBytes);
        await _store.SetAsync("BIG", atLimit, Token);
        Assert.Equal(atLimit, await _store.GetAsync("BIG", Token));

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _store.SetAsync("BIGGER", atLimit + "é", Token));

        Assert.Contains("65536", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("xxxx", ex.Message, StringComparison.Ordinal);
        Assert.Null(await _store.GetAsync("BIGGER", Token));
    }

    [Fact]
    public async Task Set_UnpairedSurrogate_IsRefusedNotMangled()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _store.SetAsync("BROKEN", "abc\uD800def", Token));

        Assert.Null(await _store.GetAsync("BROKEN", Token));
    }

    [Theory]
    [InlineData("A")]
    [InlineData("_")]
    [InlineData("api_key")]
    [InlineData("OPENAI_API_KEY")]
    [InlineData("_9")]
    public void Check_ValidName_IsNull(string name)
    {
        Assert.Null(SecretName.Check(name));
        Assert.True(SecretName.IsValid(name));
    }

    [Fact]
    public void Check_LongestName_IsValidAndOneMoreIsNot()
    {
        Assert.Null(SecretName.Check(new string('A', SecretName.MaxLength)));
        Assert.Contains("129 characters", SecretName.Check(new string('A', SecretName.MaxLength + 1)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("1PASSWORD", "starts with a digit")]
    [InlineData("API-KEY", "'-'")]
    [InlineData("API KEY", "U+0020")]
    [InlineData("API_KEY.secret", "'.'")]
    [InlineData("../keys/secrets", "'.', '/'")]
    [InlineData("/etc/passwd", "'/'")]
    [InlineData("A\0B", "U+0000")]
    [InlineData("KÉY", "U+00C9")]
    [InlineData("$HOME", "'$'")]
    public async Task InvalidName_EveryOperation_RefusedBeforeTouchingFiles(string name, string says)
    {
        var error = SecretName.Check(name);

        Assert.NotNull(error);
        Assert.Contains(says, error, StringComparison.Ordinal);
        Assert.Contains("like an environment variable name", error, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidSecretNameException>(() => _store.SetAsync(name, Value, Token));
        await Assert.ThrowsAsync<InvalidSecretNameException>(() => _store.GetAsync(name, Token));
        await Assert.ThrowsAsync<InvalidSecretNameException>(() => _store.RemoveAsync(name, Token));
        Assert.False(Directory.Exists(_store.SecretsDirectory));
        Assert.False(Directory.Exists(_store.KeysDirectory));
    }

    [Fact]
    public void Check_InvalidName_DoesNotRepeatIt()
    {
        // A value pasted where the name belongs must not be printed back in the error.
        var error = SecretName.Check("sk-proj-AbCdEf123456");

        Assert.NotNull(error);
        Assert.DoesNotContain("AbCdEf", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_NameThatWouldTraverse_NeverReadsTheKey()
    {
        await _store.SetAsync("API_KEY", Value, Token);

        await Assert.ThrowsAsync<InvalidSecretNameException>(() => _store.GetAsync("../keys/secrets", Token));
        await Assert.ThrowsAsync<InvalidSecretNameException>(() => _store.RemoveAsync("../keys/secrets", Token));

        Assert.True(File.Exists(_store.KeyFile));
    }

    private static bool IsInside(string path, string folder) =>
        Path.GetFullPath(path).StartsWith(Path.GetFullPath(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Apiary.Events;
using Xunit;

namespace Apiary.Testing;

/// <summary>
/// Attacks on an event log file, made behind its store's back with the <c>sqlite3</c> shell, as someone with write access
/// to <c>events.db</c> (but not to the signing key) could make them.
/// </summary>
public static class LogTamper
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Runs <paramref name="sql"/> on the file with the <c>sqlite3</c> shell and returns what it printed.</summary>
    public static async Task<string> Sqlite3Async(string path, string sql)
    {
        var start = new ProcessStartInfo("sqlite3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(path);
        start.ArgumentList.Add(sql);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        var error = await process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.True(process.ExitCode == 0, $"sqlite3 failed: {error}");
        return output;
    }

    /// <summary>
    /// Replaces the data of the event at <paramref name="position"/> with <paramref name="data"/> and recomputes the hash of
    /// that event and of every later one, so that the chain links again from the first event to the last.
    /// </summary>
    /// <param name="reader">A store on the file, used only to read it.</param>
    /// <param name="path">The file.</param>
    /// <param name="position">The event to forge.</param>
    /// <param name="data">Its new data.</param>
    public static async Task RewriteAsync(IEventStore reader, string path, long position, string data)
    {
        var sql = new StringBuilder("BEGIN;");
        var previous = EventChain.ZeroHash;
        await foreach (var e in reader.ReadAllAsync(1, Ct))
        {
            var forged = e.Position == position ? Encoding.UTF8.GetBytes(data) : e.Data.ToArray();
            if (e.Position < position)
            {
                previous = e.Hash;
                continue;
            }

            var hash = EventChain.ComputeHash(previous.Span, e.Position, e.Stream, e.StreamVersion, e.Type, e.Timestamp, forged, e.BodyHash.Span);
            sql.Append(CultureInfo.InvariantCulture, $"UPDATE events SET data = X'{Convert.ToHexString(forged)}', previous_hash = X'{Convert.ToHexString(previous.Span)}', hash = X'{Convert.ToHexString(hash)}' WHERE position = {e.Position};");
            previous = hash;
        }

        sql.Append("COMMIT;");
        await Sqlite3Async(path, sql.ToString());
    }

    /// <summary>Deletes every event from <paramref name="fromPosition"/> on: the newest events are cut off.</summary>
    public static Task CutAsync(string path, long fromPosition) =>
        Sqlite3Async(path, string.Create(CultureInfo.InvariantCulture, $"DELETE FROM events WHERE position >= {fromPosition};"));

    /// <summary>Sets the body of the event at <paramref name="position"/> to NULL, as a purge would, without recording a purge.</summary>
    public static Task NullBodyAsync(string path, long position) =>
        Sqlite3Async(path, string.Create(CultureInfo.InvariantCulture, $"UPDATE events SET body = NULL WHERE position = {position};"));
}

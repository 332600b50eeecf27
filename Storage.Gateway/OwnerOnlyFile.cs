namespace Storage.Gateway;

/// <summary>Files of secrets the gateway generates (the S3 key pair, the master key): written whole, readable by their owner only.</summary>
public static class OwnerOnlyFile
{
    /// <summary>
    /// Writes the file under a temporary name of its own with mode 0600 and moves it into place, so it is never seen half
    /// written. False when another process (a second replica starting beside this one) created it first: its file wins.
    /// </summary>
    public static bool Create(string path, Action<Stream> write)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new FileStream(temporary, options))
        {
            write(file);
        }

        try
        {
            File.Move(temporary, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
            return false;
        }
    }
}

namespace Storage.Gateway;

/// <summary>Files of secrets the gateway generates (the S3 key pair, the master key): written whole, readable by their owner only.</summary>
public static class OwnerOnlyFile
{
    /// <summary>Writes the file under a temporary name with mode 0600 and moves it into place, so it is never seen half written.</summary>
    public static void Create(string path, Action<Stream> write)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new FileStream(temporary, options))
        {
            write(file);
        }

        File.Move(temporary, path);
    }
}

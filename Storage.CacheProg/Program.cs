using Storage.CacheProg.Commands;

// "connect" is what GOCACHEPROG runs for every build when a worker serves the cache: it takes the shortest path,
// touching neither the command-line parser nor the cache code.
return args is ["connect", ..]
    ? ConnectCommand.Run(args.Length > 1 ? args[1] : null)
    : await CacheProgCommandLine.InvokeAsync(args);

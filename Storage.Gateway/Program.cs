using Storage.Gateway;

var app = await GatewayApp.CreateAsync(args);
await app.RunAsync();

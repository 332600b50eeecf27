# The gateway as a container, with its nodes found in the Docker daemon (compose.yaml builds and runs it:
# `docker compose up --build`). Built from the standard .NET images.
ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
COPY . .
# Warnings are errors in this repository's own CI; an image build must not fail on an analyzer of a newer SDK or a
# freshly published NuGet advisory.
RUN dotnet publish Storage.Gateway/Storage.Gateway.csproj -c Release -o /app -p:TreatWarningsAsErrors=false

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}
WORKDIR /app
COPY --from=build /app .
# In a container the gateway listens on every interface of the container; compose.yaml publishes the port on the
# host's loopback only. The data folder holds the generated S3 key pair (and the SQLite file when Redis is not used).
ENV ASPNETCORE_URLS=http://+:3000 \
    ASPNETCORE_HTTP_PORTS= \
    Storage__DataPath=/data \
    Storage__Discovery__Docker__Enabled=true
VOLUME /data
EXPOSE 3000
ENTRYPOINT ["dotnet", "Storage.Gateway.dll"]

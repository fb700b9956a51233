FROM golang:1 AS build
WORKDIR /src
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /app/bin/app .
FROM alpine:3
WORKDIR /app
COPY . .
COPY --from=build /app/bin/app /app/bin/app
ENV PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV PORT=8080
EXPOSE 8080
CMD ["/app/bin/app"]

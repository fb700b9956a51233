FROM debian:stable-slim
WORKDIR /app
COPY . .
ENV PORT=8080
EXPOSE 8080
CMD ["/bin/sh","-c","./run.sh"]

FROM busybox:1.37
COPY ["index.html","/www/"]
COPY ["css","/www/css/"]
ENV PORT=8080
EXPOSE 8080
CMD ["/bin/sh","-c","exec httpd -f -v -p \"$PORT\" -h /www"]

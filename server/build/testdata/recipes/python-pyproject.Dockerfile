FROM python:3
WORKDIR /app
ENV PYTHONUNBUFFERED=1
COPY . .
RUN pip install --no-cache-dir .
ENV PORT=8080
EXPOSE 8080
CMD ["/bin/sh","-c","x"]
